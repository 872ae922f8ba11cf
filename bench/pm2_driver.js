#!/usr/bin/env node
// pm2 driven through its programmatic API over one persistent connection, for bench/peer_driver.py:
// the same way supervisord is driven over XML-RPC and circus over ZeroMQ, so node's start-up is not
// counted in every operation. One JSON request per line on stdin; one reply per line on stdout,
// prefixed with "@@" to tell it from pm2's own output.
'use strict';
const readline = require('readline');
const pm2 = require(process.env.PM2_MODULE || 'pm2');

const call = (fn) => new Promise((resolve, reject) => fn((err, res) => (err ? reject(err) : resolve(res))));

const ops = {
  connect: () => call((cb) => pm2.connect(cb)).then(() => ({})),
  start: (m) =>
    call((cb) =>
      pm2.start(
        {
          name: m.name, script: m.argv[0], args: m.argv.slice(1), interpreter: 'none', exec_mode: 'fork',
          instances: m.n, autorestart: true, out_file: '/dev/null', error_file: '/dev/null',
        },
        cb,
      ),
    ).then(() => ({})),
  list: () =>
    call((cb) => pm2.list(cb)).then((l) => ({ procs: l.map((x) => ({ id: x.pm_id, status: x.pm2_env.status })) })),
  // one replica at a time: each restart resolves once the old process is gone and the new one spawned
  restart_each: async (m) => {
    const l = await call((cb) => pm2.list(cb));
    const ids = l.filter((x) => x.name === m.name).map((x) => x.pm_id).sort((a, b) => a - b);
    for (const id of ids) await call((cb) => pm2.restart(id, cb));
    return { restarted: ids.length };
  },
  stop: (m) => call((cb) => pm2.stop(m.name, cb)).then(() => ({})),
  delete: (m) => call((cb) => pm2.delete(m.name, cb)).then(() => ({})),
  kill: () => call((cb) => pm2.killDaemon(cb)).then(() => { pm2.disconnect(); return {}; }),
};

const reply = (obj) => process.stdout.write('@@' + JSON.stringify(obj) + '\n');
let queue = Promise.resolve();
readline.createInterface({ input: process.stdin }).on('line', (line) => {
  queue = queue.then(async () => {
    const m = JSON.parse(line);
    try {
      reply(Object.assign({ ok: true }, await ops[m.op](m)));
    } catch (e) {
      reply({ ok: false, error: String((e && e.message) || e) });
    }
    if (m.op === 'kill') setTimeout(() => process.exit(0), 50);
  });
}).on('close', () => setTimeout(() => process.exit(0), 100));
