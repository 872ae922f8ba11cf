from mooring.cli.fast import main

main()
