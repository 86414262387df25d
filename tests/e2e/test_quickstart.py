"""The README's Python quickstart, run as a newcomer would: copied as it is, against a real ``billow
serve`` on a new database, twice (it must be re-runnable: the second run reuses what the first created)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from tests.conftest import _backends, create_throwaway_database
from tests.e2e.conftest import _billow_command, _free_port, _wait_healthy

pytestmark = pytest.mark.e2e

README = Path(__file__).resolve().parents[2] / "README.md"
QUICKSTART_URL = "http://127.0.0.1:3000"


def quickstart_code() -> str:
    blocks = re.findall(r"^```python\n(.*?)^```$", README.read_text(), flags=re.DOTALL | re.MULTILINE)
    [block] = [block for block in blocks if "lago_python_client" in block]
    return block


@pytest.fixture(scope="module", params=_backends())
def serve(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``billow serve`` with the README's API key on a new database named by BILLOW_DATABASE_URL (a SQLite
    file that does not exist yet, or a new PostgreSQL database), whose startup line names that database."""
    tmp = tmp_path_factory.mktemp(f"quickstart-{request.param}")
    env = {k: v for k, v in os.environ.items() if not k.startswith("BILLOW_")}
    env["BILLOW_API_KEY"] = "dev_key"
    drop = None
    if request.param == "postgresql":
        database, drop = create_throwaway_database("postgresql", tmp)
        env["BILLOW_DATABASE_URL"] = database.url
        # A key as short as the README's is refused on PostgreSQL unless this is development.
        env["BILLOW_ENV"] = "development"
        where = make_url(database.url).render_as_string(hide_password=True)
    else:
        env["BILLOW_DATABASE_URL"] = f"sqlite:///{tmp / 'quickstart.db'}"
        where = f"SQLite at {tmp / 'quickstart.db'}"
    port = _free_port()
    log_path = tmp / "serve.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [*_billow_command(), "serve", "--port", str(port)], env=env, stdout=log, stderr=subprocess.STDOUT
        )
    try:
        _wait_healthy(f"http://127.0.0.1:{port}", process, log_path)
        assert f"Billow listening on http://127.0.0.1:{port} (database: {where})\n" in log_path.read_text()
        assert (
            "WARNING: BILLOW_API_KEY is 7 characters long, short enough to be guessed" in log_path.read_text()
        )
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
        if drop is not None:
            drop()


def test_the_readme_quickstart_runs_twice(serve: str, tmp_path: Path) -> None:
    base_url = serve
    code = quickstart_code()
    assert code.count(f'"{QUICKSTART_URL}"') == 1, "the quickstart's server URL changed: update this test"
    script = tmp_path / "quickstart.py"
    script.write_text(code.replace(f'"{QUICKSTART_URL}"', f'"{base_url}"'))
    outputs = []
    for _ in range(2):
        result = subprocess.run(
            [sys.executable, str(script)], capture_output=True, text=True, timeout=60, cwd=tmp_path
        )
        assert result.returncode == 0, result.stderr
        outputs.append(result.stdout)
    assert outputs == ["1.0 API calls this month: 1 cents\n", "2.0 API calls this month: 2 cents\n"]
