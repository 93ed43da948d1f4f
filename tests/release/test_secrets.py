"""Secrets stay secret: passwords never on argv, never in URLs, never handed to a helper's tests
or builds; htpasswd in bcrypt, rendered Secrets and htpasswd files readable by their owner only;
the mirror runs no sdist's build code and never keeps a wheel whose bytes changed."""

from __future__ import annotations

import io
import os
import pty
import select
import shutil
import stat
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest
from passlib.apache import HtpasswdFile

from helperhub.core.errors import BuildError, ConfigError, IntegrityError, RegistryError
from helperhub.core.tools import clean_pip_env, scrubbed_env
from helperhub.core.wheelhouse import SDIST_BUILDS, fetch_closure, pip_wheel_args
from helperhub.registry.client import IndexSettings
from helperhub.release.build import run_tests
from helperhub.release.project import load_project
from helperhub.release.publish import publish
from helperhub.stack.manifests import HTPASSWD, write_manifests
from tests.conftest import REPO, RunningIndex
from tests.sidebyside import make_wheel

SECRET = "s3cret-that-must-not-leak"


def base_env() -> dict[str, str]:
    """This environment without any password source, so each test gives exactly the one it tests."""
    return {k: v for k, v in os.environ.items() if "PASSWORD" not in k.upper()}


def helperhub(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "helperhub", *args], env=env if env is not None else base_env(),
        stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60,
    )


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def assert_bcrypt_login(htpasswd: Path, user: str, password: str) -> None:
    line = htpasswd.read_text().strip()
    assert line.startswith((f"{user}:$2b$", f"{user}:$2y$")), line
    assert mode(htpasswd) == 0o600
    assert HtpasswdFile(str(htpasswd)).check_password(user, password) is True
    assert HtpasswdFile(str(htpasswd)).check_password(user, password + "x") is False


# --- 1. passwords never on argv ---------------------------------------------------------------


@pytest.mark.slow
def test_add_user_reads_the_password_from_the_environment(tmp_path: Path) -> None:
    htpasswd = tmp_path / "htpasswd"
    proc = helperhub("registry", "add-user", "alice", "--htpasswd", str(htpasswd),
                     env={**base_env(), "HUB_NEW_PASSWORD": SECRET})
    assert proc.returncode == 0, proc.stderr
    assert SECRET not in proc.stdout + proc.stderr
    assert_bcrypt_login(htpasswd, "alice", SECRET)


@pytest.mark.slow
@pytest.mark.parametrize("via", ["flag", "env"])
def test_add_user_reads_a_password_file(tmp_path: Path, via: str) -> None:
    htpasswd, secret_file = tmp_path / "htpasswd", tmp_path / "password"
    secret_file.write_text(f"{SECRET}\n")  # as `echo` or an editor leaves it
    args = ["--password-file", str(secret_file)] if via == "flag" else []
    env = {**base_env(), "HUB_NEW_PASSWORD_FILE": str(secret_file)} if via == "env" else base_env()
    proc = helperhub("registry", "add-user", "alice", "--htpasswd", str(htpasswd), *args, env=env)
    assert proc.returncode == 0, proc.stderr
    assert_bcrypt_login(htpasswd, "alice", SECRET)


@pytest.mark.slow
def test_add_user_keeps_other_users_and_changes_a_password(tmp_path: Path) -> None:
    htpasswd = tmp_path / "htpasswd"
    for user, password in (("alice", "one"), ("bob", "two"), ("alice", "three")):
        proc = helperhub("registry", "add-user", user, "--htpasswd", str(htpasswd),
                         env={**base_env(), "HUB_NEW_PASSWORD": password})
        assert proc.returncode == 0, proc.stderr
    ht = HtpasswdFile(str(htpasswd))
    assert ht.check_password("alice", "three") and not ht.check_password("alice", "one")
    assert ht.check_password("bob", "two")
    assert mode(htpasswd) == 0o600


@pytest.mark.slow
@pytest.mark.parametrize("command", [
    ["registry", "add-user", "alice", "--htpasswd", "{tmp}/htpasswd"],
    ["release", "--root", "{tmp}"],
    ["pins", "bump", "--root", "{tmp}", "tabular-helpers", "1.0.0"],
])
def test_a_password_flag_is_rejected(tmp_path: Path, command: list[str]) -> None:
    proc = helperhub(*(a.format(tmp=tmp_path) for a in command), "--password", SECRET)
    assert proc.returncode == 2, proc.stderr
    assert "No such option '--password'" in proc.stderr
    assert not (tmp_path / "htpasswd").exists()


def one_line_error(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 1, proc.stdout + proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, proc.stderr
    return lines[0]


def test_add_user_without_a_password_and_no_terminal_says_what_to_do(tmp_path: Path) -> None:
    line = one_line_error(helperhub("registry", "add-user", "alice", "--htpasswd", str(tmp_path / "htpasswd")))
    assert "HUB_NEW_PASSWORD" in line and "--password-file" in line
    assert not (tmp_path / "htpasswd").exists()


@pytest.mark.slow
@pytest.mark.parametrize(("content", "says"), [
    (None, "cannot read the password file"),
    ("", "is empty"),
    ("\n", "is empty"),
    ("one\ntwo\n", "several lines"),
])
def test_a_bad_password_file_is_one_clear_line(tmp_path: Path, content: str | None, says: str) -> None:
    secret_file = tmp_path / "password"
    if content is not None:
        secret_file.write_text(content)
    line = one_line_error(helperhub("registry", "add-user", "alice", "--htpasswd", str(tmp_path / "htpasswd"),
                                    "--password-file", str(secret_file)))
    assert says in line and str(secret_file) in line
    assert not (tmp_path / "htpasswd").exists()


@pytest.mark.slow
def test_a_password_given_twice_is_refused(tmp_path: Path) -> None:
    secret_file = tmp_path / "password"
    secret_file.write_text(SECRET)
    line = one_line_error(helperhub("registry", "add-user", "alice", "--htpasswd", str(tmp_path / "htpasswd"),
                                    "--password-file", str(secret_file),
                                    env={**base_env(), "HUB_NEW_PASSWORD": "other"}))
    assert "HUB_NEW_PASSWORD" in line and "one way" in line


@pytest.mark.slow
def test_add_user_asks_twice_on_a_terminal_without_echo(tmp_path: Path) -> None:
    htpasswd = tmp_path / "htpasswd"
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "helperhub", "registry", "add-user", "bob", "--htpasswd", str(htpasswd)],
        stdin=slave, stdout=slave, stderr=slave, env=base_env(), start_new_session=True,
    )
    os.close(slave)
    seen = b""

    def read_until(token: bytes, timeout: float = 30.0) -> None:
        nonlocal seen
        deadline = time.monotonic() + timeout
        while token not in seen and time.monotonic() < deadline:
            if select.select([master], [], [], 0.2)[0]:
                try:
                    seen += os.read(master, 1024)
                except OSError:  # the child closed the terminal
                    return

    try:
        read_until(b"password for bob")
        os.write(master, f"{SECRET}\n".encode())
        read_until(b"again")
        os.write(master, f"{SECRET}\n".encode())
        assert proc.wait(timeout=30) == 0, seen
        read_until(b"can now upload", timeout=5)
    finally:
        proc.kill()
        os.close(master)
    assert SECRET.encode() not in seen, "the typed password was echoed"
    assert_bcrypt_login(htpasswd, "bob", SECRET)


@pytest.mark.slow
def test_an_index_password_file_is_read_and_checked(tmp_path: Path) -> None:
    # the option is parsed before the command runs: an unreadable file stops it with one line
    missing = tmp_path / "nope"
    line = one_line_error(helperhub("pins", "bump", "--root", str(tmp_path), "--password-file", str(missing),
                                    "tabular-helpers", "1.0.0"))
    assert "cannot read the password file" in line
    line = one_line_error(helperhub("pins", "bump", "--root", str(tmp_path), "tabular-helpers", "1.0.0",
                                    env={**base_env(), "HUB_INDEX_PASSWORD_FILE": str(missing)}))
    assert "cannot read the password file" in line


# --- 2. URLs with credentials refused -----------------------------------------------------------


@pytest.mark.parametrize("url", [
    f"http://release:{SECRET}@127.0.0.1:8080/",
    f"https://release:{SECRET}@pypi.example.org/simple/",
    "http://release@127.0.0.1:8080",
    "http://@127.0.0.1:8080",
])
def test_an_index_url_with_credentials_is_refused(url: str) -> None:
    with pytest.raises(ConfigError) as exc:
        IndexSettings(url, "release", "other")
    message = str(exc.value)
    for words in ("HUB_INDEX_USER", "HUB_INDEX_PASSWORD", "never in the URL", "pins.json"):
        assert words in message
    assert SECRET not in message and "release@" not in message


@pytest.mark.parametrize("url", ["ftp://pypi.example.org/", "file:///srv/pypi", "127.0.0.1:8080", "http:///simple/"])
def test_an_index_url_must_be_http_with_a_host(url: str) -> None:
    with pytest.raises(ConfigError, match="http:// or https://"):
        IndexSettings(url)


def test_plain_index_urls_still_work() -> None:
    assert IndexSettings("https://pypi.example.org").simple_url == "https://pypi.example.org/simple/"
    assert IndexSettings("http://127.0.0.1:8080/simple/", "u", "p").upload_url == "http://127.0.0.1:8080/"


@pytest.mark.slow
def test_the_cli_refuses_an_index_url_with_credentials(tmp_path: Path) -> None:
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    line = one_line_error(helperhub("pins", "bump", "--root", str(tmp_path), "tabular-helpers", "1.0.0",
                                    env={**base_env(), "HUB_INDEX_URL": f"http://u:{SECRET}@127.0.0.1:9/"}))
    assert "HUB_INDEX_USER" in line and SECRET not in line


# --- 3. the release's credentials are not passed on --------------------------------------------

SECRET_VARS = ("HUB_INDEX_PASSWORD", "HUB_INDEX_USER", "HUB_NEW_PASSWORD", "HUB_INDEX_PASSWORD_FILE",
               "TWINE_USERNAME", "TWINE_PASSWORD", "GITHUB_TOKEN", "CI_JOB_TOKEN", "DB_PASSWORD")


def test_scrubbed_env_drops_credentials_and_pip_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in SECRET_VARS:
        monkeypatch.setenv(name, SECRET)
    monkeypatch.setenv("PIP_INDEX_URL", "https://mirror.example/simple/")
    monkeypatch.setenv("HUB_INDEX_URL", "http://127.0.0.1:8080")
    monkeypatch.setenv("HELPER_SETTING", "kept")

    env = scrubbed_env({"SOURCE_DATE_EPOCH": "1"})
    assert not set(SECRET_VARS) & set(env)
    assert SECRET not in env.values()
    assert not any(k.startswith("PIP_") for k in env)
    assert env["HUB_INDEX_URL"] == "http://127.0.0.1:8080" and env["HELPER_SETTING"] == "kept"
    assert env["SOURCE_DATE_EPOCH"] == "1" and env["PATH"] == os.environ["PATH"]

    with_pip = scrubbed_env(keep_pip=True)
    assert with_pip["PIP_INDEX_URL"] == "https://mirror.example/simple/"
    assert SECRET not in with_pip.values()


def test_clean_pip_env_gives_twine_only_the_credentials_passed_to_it(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in SECRET_VARS:
        monkeypatch.setenv(name, SECRET)
    env = clean_pip_env({"TWINE_USERNAME": "release", "TWINE_PASSWORD": "given"})
    assert env["TWINE_USERNAME"] == "release" and env["TWINE_PASSWORD"] == "given"
    assert env["PIP_CONFIG_FILE"] == os.devnull
    assert SECRET not in env.values()


def tiny_helper(root: Path) -> Path:
    """A throwaway helper project whose one test fails if it can see a credential."""
    path = root / "helpers" / "tiny-helpers"
    (path / "src" / "tiny_helpers").mkdir(parents=True)
    (path / "tests").mkdir()
    (path / "pyproject.toml").write_text(
        '[project]\nname = "tiny-helpers"\nversion = "0.1.0"\ndependencies = []\n'
    )
    (path / "src" / "tiny_helpers" / "__init__.py").write_text('__version__ = "0.1.0"\n')
    names = ", ".join(repr(n) for n in SECRET_VARS)
    (path / "tests" / "test_env.py").write_text(
        "import os\n\nimport tiny_helpers\n\n\n"
        "def test_no_credentials() -> None:\n"
        "    assert tiny_helpers.__version__ == '0.1.0'\n"
        "    assert os.environ.get('HELPER_CANARY') == 'visible'  # the environment is passed on otherwise\n"
        f"    leaked = [n for n in ({names},) if n in os.environ]\n"
        "    assert not leaked, leaked\n"
    )
    return path


def test_a_helpers_tests_do_not_see_the_release_credentials(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = load_project(tiny_helper(tmp_path))
    monkeypatch.setenv("HELPER_CANARY", "visible")
    for name in SECRET_VARS:
        monkeypatch.setenv(name, SECRET)
    run_tests(project, {project.name: project})  # raises BuildError if the helper's test fails


def test_the_helper_test_does_fail_when_it_sees_a_credential(tmp_path: Path) -> None:
    """The check above is not vacuous: the same test, run with the credential, fails."""
    path = tiny_helper(tmp_path)
    env = {**os.environ, "PYTHONPATH": str(path / "src"), "HELPER_CANARY": "visible", "HUB_INDEX_PASSWORD": SECRET}
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"],
                          cwd=path, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1 and "HUB_INDEX_PASSWORD" in proc.stdout


def test_a_failing_helper_test_is_a_build_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    project = load_project(tiny_helper(tmp_path))
    monkeypatch.delenv("HELPER_CANARY", raising=False)
    with pytest.raises(BuildError, match="the tests of tiny-helpers failed"):
        run_tests(project, {project.name: project})


# --- 4./5. files holding secrets ---------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.usefixtures("kubectl")  # skipped without it, a failure under CI=true
def test_rendered_manifests_are_written_0600(tmp_path: Path) -> None:
    k8s = tmp_path / "k8s"
    shutil.copytree(REPO / "registry/k8s", k8s, ignore=shutil.ignore_patterns("htpasswd"))
    from helperhub.stack.embedded import add_user

    add_user(k8s / HTPASSWD, "release", SECRET)
    assert mode(k8s / HTPASSWD) == 0o600
    out = tmp_path / "out"
    out.mkdir()
    (out / "local.yaml").write_text("old\n")
    (out / "local.yaml").chmod(0o644)  # a file of an earlier run does not keep its mode
    written = write_manifests(k8s, out)
    assert [p.name for p in written] == ["local.yaml", "production.yaml", "shared-volume.yaml"]
    for path in written:
        assert mode(path) == 0o600, path
        assert "kind: Secret" in path.read_text()


# --- 6. mirror: wheels only, conflicts fatal -----------------------------------------------------


def test_pip_wheel_is_asked_for_wheels_only() -> None:
    assert pip_wheel_args(["kfp==2.17.3", "numpy>=1.26"], Path("/tmp/wheels"), ()) == [
        "pip", "wheel", "--quiet", "--progress-bar", "off", "--no-cache-dir", "--only-binary=:all:",
        "--wheel-dir", "/tmp/wheels", "kfp==2.17.3", "numpy>=1.26",
    ]
    # the reviewed exceptions are named, one by one
    assert SDIST_BUILDS == ("kfp-server-api",)
    assert pip_wheel_args(["kfp==2.17.3"], "/w") == [
        "pip", "wheel", "--quiet", "--progress-bar", "off", "--no-cache-dir", "--only-binary=:all:",
        "--no-binary=kfp-server-api", "--wheel-dir", "/w", "kfp==2.17.3",
    ]


def sdist_bytes(name: str, version: str, marker: Path) -> bytes:
    """An sdist whose build would leave ``marker``: pip must never run it."""
    buf = io.BytesIO()
    files = {
        "PKG-INFO": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
        "setup.py": f"open({str(marker)!r}, 'w').close()\n"
                    f"from setuptools import setup\nsetup(name={name!r}, version={version!r})\n",
    }
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for rel, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(f"{name}-{version}/{rel}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


@pytest.mark.slow
def test_fetch_closure_takes_wheels_and_refuses_an_sdist(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    links = tmp_path / "links"
    links.mkdir()
    name, data = make_wheel("wheel-only", "1.0")
    (links / name).write_bytes(data)
    marker = tmp_path / "sdist-was-built"
    (links / "sdist_only-1.0.tar.gz").write_bytes(sdist_bytes("sdist-only", "1.0", marker))
    # offline: pip sees only the folder (fetch_closure keeps the machine's PIP_* settings)
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(links))

    assert [p.name for p in fetch_closure(["wheel-only==1.0"], tmp_path / "cache")] == [name]

    with pytest.raises(RegistryError) as exc:
        fetch_closure(["sdist-only==1.0"], tmp_path / "cache")
    message = str(exc.value)
    assert "\n" not in message
    assert "No matching distribution found for sdist-only==1.0" in message and "wheels only" in message
    assert not marker.exists(), "the sdist's setup.py ran"


@pytest.mark.slow
def test_a_mirrored_wheel_with_other_bytes_stops_the_release(fresh_index: RunningIndex, tmp_path: Path) -> None:
    name, first = make_wheel("third-party", "1.0", payload=b"genuine")
    _, second = make_wheel("third-party", "1.0", payload=b"tampered")
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "a" / name).write_bytes(first)
    (tmp_path / "b" / name).write_bytes(second)

    assert publish(fresh_index.settings, [tmp_path / "a" / name]).upload == [tmp_path / "a" / name]
    assert publish(fresh_index.settings, [tmp_path / "a" / name]).present == [tmp_path / "a" / name]
    with pytest.raises(IntegrityError, match="already in the registry with sha256"):
        publish(fresh_index.settings, [tmp_path / "b" / name])
