"""The CLI's edges: version, help without torch, one-line errors."""

from __future__ import annotations

import subprocess
import sys

from typer.testing import CliRunner

from mapperator_cli.app import __version__, app

runner = CliRunner()


def test_version():
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.stdout.strip() == f"mapper {__version__}"


def test_help_does_not_import_torch():
    code = (
        "import sys\n"
        "from mapperator_cli.app import app\n"
        "from typer.testing import CliRunner\n"
        "r = CliRunner().invoke(app, ['--help'])\n"
        "assert r.exit_code == 0, r.output\n"
        "import typer.main\n"
        "for cmd in getattr(typer.main.get_command(app), 'commands', {}):\n"
        "    assert CliRunner().invoke(app, [cmd, '--help']).exit_code == 0, cmd\n"
        "heavy = [m for m in ('torch', 'transformers', 'torchaudio', 'numpy') if m in sys.modules]\n"
        "print(','.join(heavy))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "torch" not in out.split(","), out


def test_unknown_command_fails_cleanly():
    proc = subprocess.run([sys.executable, "-m", "mapperator_cli", "no-such-command"], capture_output=True, text=True)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
