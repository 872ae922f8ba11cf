from __future__ import annotations

import pytest

from mooring.manifest import LoadedManifest, ManifestError, load_manifest_text


def load(text: str, **env: str) -> LoadedManifest:
    return load_manifest_text(text, environ=env)


def errors_of(text: str, **env: str) -> list[str]:
    with pytest.raises(ManifestError) as caught:
        load_manifest_text(text, environ=env)
    return [issue.render() for issue in caught.value.issues]
