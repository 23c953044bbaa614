"""Uploads kept on the server (datasets.upload_vault, ui.uploads): unguessable tokens, exact round trips,
expiry, quotas, atomic writes, and isolation: two tokens never see each other's data, a malformed token
never reaches the disk, an unknown or expired link says so in the app."""
from __future__ import annotations

import hashlib
import json
import os
import sys
import threading
from pathlib import Path

import pandas as pd
import pytest

from datasets.store import Store
from datasets.upload import example_csv, read_upload
from datasets.upload_vault import TOKEN_RE, UploadVault, VaultError, default_root

ROOT = Path(__file__).resolve().parents[1]
TIMEOUT = 180


class Clock:
    """A settable clock (epoch seconds)."""

    def __init__(self, t: float = 1_800_000_000.0):
        self.t = t

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def vault(tmp_path, clock) -> UploadVault:
    return UploadVault(tmp_path / "vault", ttl_hours=24, quota_mb=5, total_mb=50, clock=clock)


@pytest.fixture(scope="module")
def example():
    return read_upload(example_csv(), filename="example_runs.csv")


def scaled(scale: float, family: str = "other"):
    """The example with another family and every loss times ``scale``: another user's data."""
    df = pd.read_csv(pd.io.common.StringIO(example_csv()))
    df["family"] = family
    df["value"] = df["value"] * scale
    return read_upload(df.to_csv(index=False), filename="runs.csv")


def assert_same_upload(a, b) -> None:
    pd.testing.assert_frame_equal(a.runs, b.runs)
    pd.testing.assert_frame_equal(a.points, b.points)
    assert a.report == b.report


# ----------------------------------------------------------------------------------------------- tokens
def test_tokens_are_unguessable_and_never_a_path(vault, example):
    tokens = {vault.create() for _ in range(20)}
    assert len(tokens) == 20 and all(TOKEN_RE.fullmatch(t) for t in tokens)
    tok = next(iter(tokens))
    vault.put(tok, "../../etc/passwd", example)            # a hostile upload name is data, not a path
    listing = [p.name for p in vault.root.rglob("*")]
    assert not any(t in name for t in tokens for name in listing)      # folders are digests, not tokens
    assert hashlib.sha256(tok.encode()).hexdigest()[:40] in listing
    assert not any("passwd" in name for name in listing)
    assert [e.name for e in vault.entries(tok)] == ["../../etc/passwd"]


@pytest.mark.parametrize("token", ["", "abc", "../../etc/passwd", "x" * 42, "x" * 44, "a" * 42 + "/",
                                   "a" * 42 + ".", "ä" * 43, "a" * 42 + "\x00", None, 12345, ["a" * 43]])
def test_malformed_tokens_are_rejected_before_the_disk(tmp_path, token, example):
    v = UploadVault(tmp_path / "never-made")
    assert v.status(token) == "malformed"
    for call in (lambda: v.entries(token), lambda: v.get(token, "x"), lambda: v.put(token, "x", example),
                 lambda: v.delete(token, "x"), lambda: v.destroy(token), lambda: v.load(token)):
        with pytest.raises(VaultError) as e:
            call()
        assert e.value.kind == "malformed" and "malformed" in e.value.message and e.value.fix
    assert not (tmp_path / "never-made").exists()


def test_unknown_token_says_so(vault, example):
    guess = "A" * 43                                            # the right form, never made
    assert vault.status(guess) == "unknown"
    with pytest.raises(VaultError) as e:
        vault.put(guess, "runs.csv", example)
    assert e.value.kind == "unknown" and "Upload page" in e.value.fix


# ----------------------------------------------------------------------------------------------- round trip
def test_round_trip_is_exact_and_queries_the_same(vault, example, tmp_path):
    tok = vault.create()
    entry = vault.put(tok, "example_runs.csv", example, digest="d1")
    assert entry.digest == "d1" and entry.bytes > 0 and entry.bytes == vault.usage(tok)
    back = vault.get(tok, "example_runs.csv")
    assert_same_upload(back, example)
    a, b = Store.from_upload(example), Store.from_upload(back)
    fam = a.families()["family"].iloc[0]
    pd.testing.assert_frame_equal(a.fit_frame(fam, "loss"), b.fit_frame(fam, "loss"))
    # a format reader's upload with NULL sizes (a TensorBoard-like curve) round-trips too
    from datasets.formats import read_any

    curve = read_any(b"Name,_step,train/loss\na,10,3.0\na,20,2.9\nb,10,3.1\n", filename="h.csv")
    vault.put(tok, "curve.csv", curve)
    assert_same_upload(vault.get(tok, "curve.csv"), curve)
    assert list(vault.load(tok)) == ["example_runs.csv", "curve.csv"]


def test_same_name_replaces_and_delete_removes(vault, example):
    tok = vault.create()
    vault.put(tok, "runs.csv", example)
    other = scaled(2.0)
    vault.put(tok, "runs.csv", other)
    assert [e.name for e in vault.entries(tok)] == ["runs.csv"]
    assert_same_upload(vault.get(tok, "runs.csv"), other)
    folder = vault.root / hashlib.sha256(tok.encode()).hexdigest()[:40]
    assert len([p for p in folder.iterdir() if p.is_dir()]) == 1           # the replaced folder is gone
    assert vault.delete(tok, "runs.csv") and not vault.delete(tok, "runs.csv")
    assert vault.entries(tok) == [] and [p for p in folder.iterdir() if p.is_dir()] == []


# ----------------------------------------------------------------------------------------------- isolation
def test_two_tokens_never_see_each_other(vault, example):
    a, b = vault.create(), vault.create()
    mine, theirs = example, scaled(3.0, "theirs")
    vault.put(a, "runs.csv", mine)
    vault.put(b, "runs.csv", theirs)
    assert_same_upload(vault.get(a, "runs.csv"), mine)
    assert_same_upload(vault.get(b, "runs.csv"), theirs)
    vault.put(a, "only-a.csv", mine)
    assert [e.name for e in vault.entries(b)] == ["runs.csv"]
    with pytest.raises(VaultError):
        vault.get(b, "only-a.csv")
    vault.destroy(a)
    assert vault.status(a) == "unknown" and vault.status(b) == "active"
    assert_same_upload(vault.get(b, "runs.csv"), theirs)


def test_concurrent_writers_of_one_token_lose_nothing(vault, example):
    tok = vault.create()
    errors = []

    def put(i):
        try:
            vault.put(tok, f"run-{i}.csv", example)
        except Exception as e:  # noqa: BLE001 - collected for the assertion
            errors.append(e)

    threads = [threading.Thread(target=put, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and sorted(e.name for e in vault.entries(tok)) == [f"run-{i}.csv" for i in range(6)]


# ----------------------------------------------------------------------------------------------- expiry, quota
def test_expiry_after_the_last_upload_and_sweeping(vault, clock, example):
    a, b = vault.create(), vault.create()
    vault.put(a, "runs.csv", example)
    clock.t += 20 * 3600
    vault.put(b, "runs.csv", example)                             # b's clock starts here
    assert vault.expires(b) == pytest.approx(clock.t + 24 * 3600)
    clock.t += 5 * 3600                                           # a: 25 h after its last upload
    assert vault.status(a) == "expired" and vault.status(b) == "active"
    assert vault.status(a) == "unknown"                           # expired tokens are deleted when seen
    with pytest.raises(VaultError) as e:
        vault.load(a)
    assert e.value.kind == "unknown"
    clock.t += 20 * 3600                                          # b expires too; a later upload sweeps it
    c = vault.create()
    vault.put(c, "runs.csv", example)
    assert len([p for p in vault.root.iterdir() if p.is_dir()]) == 1


def test_expiry_message_and_environment_settings(tmp_path, monkeypatch, clock, example):
    monkeypatch.setenv("SCALING_UPLOAD_DIR", str(tmp_path / "env-root"))
    monkeypatch.setenv("SCALING_UPLOAD_TTL_HOURS", "0.5")
    monkeypatch.setenv("SCALING_UPLOAD_QUOTA_MB", "2")
    monkeypatch.setenv("SCALING_UPLOAD_TOTAL_MB", "7")
    v = UploadVault(clock=clock)
    assert v.root == tmp_path / "env-root" == default_root()
    assert (v.ttl, v.quota, v.total) == (1800.0, 2_000_000, 7_000_000)
    tok = v.create()
    v.put(tok, "runs.csv", example)
    clock.t += 1801
    with pytest.raises(VaultError) as e:
        v.entries(tok)
    assert e.value.kind == "expired" and "kept 0.5 h" in e.value.message
    monkeypatch.delenv("SCALING_UPLOAD_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert default_root() == tmp_path / "cache" / "scaling-workbench" / "uploads"
    monkeypatch.setenv("SCALING_UPLOAD_TTL_HOURS", "soon")
    with pytest.raises(VaultError, match="SCALING_UPLOAD_TTL_HOURS"):
        UploadVault()


def test_quota_per_token_and_total(tmp_path, clock, example):
    size = UploadVault(tmp_path / "probe", clock=clock)
    tok = size.create()
    one = size.put(tok, "a.csv", example).bytes
    v = UploadVault(tmp_path / "q", quota_mb=2.5 * one / 1e6, total_mb=100, clock=clock)
    tok = v.create()
    v.put(tok, "a.csv", example)
    v.put(tok, "b.csv", example)
    v.put(tok, "b.csv", example)                 # replacing counts the new copy only
    with pytest.raises(VaultError) as e:
        v.put(tok, "c.csv", example)
    assert e.value.kind == "quota" and "quota per link" in e.value.message and "Delete" in e.value.fix
    assert [x.name for x in v.entries(tok)] == ["a.csv", "b.csv"]          # nothing half-written
    assert v.delete(tok, "a.csv")
    v.put(tok, "c.csv", example)                                           # room again
    full = UploadVault(tmp_path / "q", quota_mb=100, total_mb=2.5 * one / 1e6, clock=clock)
    other = full.create()
    with pytest.raises(VaultError) as e:
        full.put(other, "x.csv", example)
    assert e.value.kind == "full"


# ----------------------------------------------------------------------------------------------- atomicity
def test_a_crash_while_writing_keeps_the_previous_state(vault, clock, example, monkeypatch):
    tok = vault.create()
    vault.put(tok, "runs.csv", example)
    import datasets.upload_vault as vault_mod
    import datasets.upload_vault_files as files_mod

    def boom(*a, **k):
        raise OSError("disk full")

    with monkeypatch.context() as m:                 # dies while writing the new upload's tables
        m.setattr(files_mod, "parquet_bytes", boom)
        with pytest.raises(OSError):
            vault.put(tok, "runs.csv", scaled(2.0))
    with monkeypatch.context() as m:                 # dies after the tables, before the new index
        m.setattr(vault_mod, "write_index", boom)
        with pytest.raises(OSError):
            vault.put(tok, "new.csv", example)
    assert [e.name for e in vault.entries(tok)] == ["runs.csv"]
    assert_same_upload(vault.get(tok, "runs.csv"), example)
    folder = vault.root / hashlib.sha256(tok.encode()).hexdigest()[:40]
    orphans = [p for p in folder.iterdir() if p.is_dir()]
    assert len(orphans) == 2                         # the named upload and the never-named one
    for p in orphans:                                # swept once stale (an hour old; the token still lives)
        os.utime(p, (p.stat().st_atime - 7200, p.stat().st_mtime - 7200))
    vault.put(tok, "runs.csv", example)
    assert len([p for p in folder.iterdir() if p.is_dir()]) == 1
    assert not [p for p in folder.iterdir() if p.name.endswith(".tmp")]


def test_a_damaged_index_is_named_and_can_be_deleted(vault, example):
    tok = vault.create()
    vault.put(tok, "runs.csv", example)
    index = vault.root / hashlib.sha256(tok.encode()).hexdigest()[:40] / "index.json"
    index.write_text("{not json", encoding="utf-8")
    assert vault.status(tok) == "damaged"
    with pytest.raises(VaultError) as e:
        vault.load(tok)
    assert "damaged" in e.value.message and "Delete" in e.value.fix
    vault.destroy(tok)
    assert vault.status(tok) == "unknown"


# ----------------------------------------------------------------------------------------------- in the app
@pytest.fixture
def app(small_store_path, tmp_path, monkeypatch):
    """New AppTest sessions (as browser tabs on one server) with the vault in a temporary folder."""
    monkeypatch.setenv("SCALING_STORE", str(small_store_path))
    monkeypatch.setenv("SCALING_BOOTSTRAP", "10")
    monkeypatch.setenv("SCALING_TIME_BUDGET", "5")
    monkeypatch.setenv("SCALING_UPLOAD_DIR", str(tmp_path / "vault"))
    if "analysis.settings" in sys.modules:
        monkeypatch.setattr(sys.modules["analysis.settings"], "BOOTSTRAP", 10)

    def session(page: str = "Upload", params: dict | None = None):
        from streamlit.testing.v1 import AppTest

        from ui.navigation import BY_NAME

        at = AppTest.from_file(str(ROOT / "home.py"), default_timeout=TIMEOUT)
        if page != "Home":
            at.switch_page(BY_NAME[page].script)
        at.query_params.update(params or {})
        at.run()
        assert not at.exception, [e.value for e in at.exception]
        return at
    return session


def _upload(at, name: str, text: str):
    at.file_uploader(key="upload_file_0").upload(name, text.encode("utf-8"), "text/csv").run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    at.button(key="upload_use").click().run()
    return at


def _token(at) -> str | None:
    tok = at.query_params.get("uploads")
    return tok[0] if isinstance(tok, list) else tok


def _fitted_E(at) -> float:
    from tests.test_app_pages import table
    return float(table(at, "parameter", "value").set_index("parameter").loc["E", "value"])


def _text(at) -> str:
    return " ".join(x.value for x in [*at.warning, *at.info, *at.caption, *at.markdown]).replace("\\", "")


def test_a_link_reopens_the_uploads_in_a_new_session(app, tmp_path):
    a = _upload(app("Upload"), "runs.csv", example_csv())
    tok = _token(a)
    assert TOKEN_RE.fullmatch(tok)
    assert "Kept on this server until" in _text(a)
    from ui.navigation import BY_NAME

    a.switch_page(BY_NAME["Fit"].script)
    a.run()
    assert _token(a) == tok                                         # navigation keeps it in the URL
    b = app("Fit", {"uploads": tok, "data": "upload"})              # a reload: a new session, the same URL
    assert list(b.session_state["uploads"]) == ["runs.csv"]
    assert b.sidebar.radio(key="data").value == "upload"
    assert _fitted_E(b) == pytest.approx(_fitted_E(a), rel=1e-9)    # the same fit, from the kept tables
    assert _token(b) == tok


def test_sessions_with_other_tokens_or_none_see_nothing_of_it(app):
    a = _upload(app("Upload"), "runs.csv", example_csv())
    b = _upload(app("Upload"), "theirs.csv", example_csv().replace("chinchilla-like", "theirs"))
    ta, tb = _token(a), _token(b)
    assert ta != tb
    assert list(app("Upload", {"uploads": ta}).session_state["uploads"]) == ["runs.csv"]
    assert list(app("Upload", {"uploads": tb}).session_state["uploads"]) == ["theirs.csv"]
    none = app("Fit", {"data": "upload"})
    assert not none.session_state["uploads"] and _token(none) is None
    assert any("No uploaded runs" in i.value for i in none.sidebar.info)


@pytest.mark.parametrize("token, says", [
    ("A" * 43, "No uploads are kept under this link"),
    ("../../" + "a" * 37, "malformed"),
    ("<script>alert(1)</script>", "malformed"),
])
def test_unknown_or_malformed_link_says_so_and_offers_the_upload_page(app, token, says):
    at = app("Fit", {"uploads": token, "data": "upload"})
    assert any(says in w.value.replace("\\", "") for w in at.warning), [w.value for w in at.warning]
    assert not at.session_state["uploads"]
    assert _token(at) is None                                          # the bad token leaves the URL


def test_expired_link_says_so(app, tmp_path):
    a = _upload(app("Upload"), "runs.csv", example_csv())
    tok = _token(a)
    index = next((tmp_path / "vault").glob("*/index.json"))
    data = json.loads(index.read_text())
    data["expires"] = 0
    index.write_text(json.dumps(data))
    at = app("Fit", {"uploads": tok, "data": "upload"})
    assert any("have expired" in w.value.replace("\\", "") for w in at.warning), [w.value for w in at.warning]


def test_delete_all_removes_them_from_the_server(app):
    a = _upload(app("Upload"), "runs.csv", example_csv())
    tok = _token(a)
    a.button(key="upload_delete_all").click().run()
    assert not a.exception and not a.session_state["uploads"] and _token(a) is None
    assert UploadVault().status(tok) == "unknown"
    at = app("Upload", {"uploads": tok})
    assert any("No uploads are kept under this link" in w.value.replace("\\", "") for w in at.warning)


def test_quota_exceeded_keeps_the_upload_in_the_session_and_says_so(app, monkeypatch):
    monkeypatch.setenv("SCALING_UPLOAD_QUOTA_MB", "0.001")
    at = app("Upload")
    at.file_uploader(key="upload_file_0").upload("runs.csv", example_csv().encode(), "text/csv").run()
    assert not at.exception and "runs.csv" in at.session_state["uploads"]
    assert any("session only" in w.value and "quota" in w.value for w in at.warning), [w.value for w in at.warning]
