from pathlib import Path

import pytest
from typer.testing import CliRunner

from kaizen.cli.main import app
from kaizen.config import get_settings
from kaizen.registry import AdapterManifest, AdapterRegistry, AdapterStatus, RegistryError


def adapter_dir(tmp_path: Path, name: str) -> Path:
    d = tmp_path / "src" / name
    d.mkdir(parents=True)
    (d / "adapter_model.safetensors").write_bytes(name.encode() * 10)
    return d


def add(reg: AdapterRegistry, tmp_path: Path, status: AdapterStatus = AdapterStatus.candidate) -> AdapterManifest:
    version = reg.next_version("default")
    m = AdapterManifest(
        version=version, base_model="gemma", base_model_hash="h", status=status, metrics={"token_f1": 0.5}
    )
    return reg.register(adapter_dir(tmp_path, version), m)


def test_versions_promote_and_rollback(tmp_path: Path) -> None:
    reg = AdapterRegistry.from_url(f"file://{tmp_path / 'reg'}")
    a = add(reg, tmp_path)
    assert a.version == "default-v0001" and len(a.checksum) == 64
    b = add(reg, tmp_path)
    reg.promote(a.version)
    reg.promote(b.version)
    assert reg.get(a.version).status == AdapterStatus.retired
    assert reg.promoted("default").version == b.version
    rejected = add(reg, tmp_path, AdapterStatus.rejected)
    assert reg.latest("default").version == rejected.version
    assert reg.rollback("default").version == a.version
    assert reg.get(b.version).status == AdapterStatus.retired
    with pytest.raises(RegistryError):
        reg.rollback("default")
    with pytest.raises(RegistryError):
        reg.register(adapter_dir(tmp_path, "dup"), a)


def test_corruption_is_detected_and_dot_dirs_are_not_versions(tmp_path: Path) -> None:
    reg = AdapterRegistry(tmp_path / "reg")
    a = add(reg, tmp_path)
    reg.regression_dir.mkdir()
    (reg.regression_dir / "manifest.json").write_text("{}")
    assert [m.version for m in reg.list()] == [a.version]
    reg.verify(a.version)
    (reg.adapter_path(a.version) / "adapter_model.safetensors").write_bytes(b"tampered")
    with pytest.raises(RegistryError, match="corrupt"):
        reg.verify(a.version)
    with pytest.raises(RegistryError):
        AdapterRegistry.from_url("s3://bucket/x")


def test_cli_lists_shows_promotes_and_rolls_back(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAIZEN_DATA_DIR", str(tmp_path / "data"))
    get_settings.cache_clear()
    try:
        reg = AdapterRegistry.from_settings(get_settings())
        a, b = add(reg, tmp_path), add(reg, tmp_path)
        runner = CliRunner()
        assert runner.invoke(app, ["adapters", "promote", a.version, "--no-publish"]).exit_code == 0
        assert runner.invoke(app, ["adapters", "promote", b.version, "--no-publish"]).exit_code == 0
        listed = runner.invoke(app, ["adapters", "list"], env={"COLUMNS": "200"})
        assert listed.exit_code == 0 and a.version in listed.output and "promoted" in listed.output
        shown = runner.invoke(app, ["adapters", "show", b.version])
        assert shown.exit_code == 0 and '"status": "promoted"' in shown.output
        assert runner.invoke(app, ["adapters", "rollback", "--no-publish"]).exit_code == 0
        assert reg.promoted("default").version == a.version
        missing = runner.invoke(app, ["adapters", "show", "nope"])
        assert missing.exit_code == 1 and "unknown adapter" in missing.output
    finally:
        get_settings.cache_clear()
