"""Where LexBrief keeps its data and finds its bundled resources.

`LEXBRIEF_HOME` overrides the per-user data folder; tests and scripts rely on that.

The data folder holds every summary of every client file: it is private to the user. It is
created 0700, the database (and SQLite's WAL/SHM files, which take the database's mode), the
logs and exports 0600; looser modes left by older versions are repaired the first time a
process uses the folder (`repair_notes` says what was changed, for the log).
"""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

import platformdirs

APP_NAME = "LexBrief"
PRIVATE_DIR_MODE = 0o700
PRIVATE_FILE_MODE = 0o600
# What the data folder holds, beside subfolders of its own (relative to the data folder).
_PRIVATE_FILES = ("lexbrief.db", "lexbrief.db-wal", "lexbrief.db-shm", "lexbrief.db-journal",
                  "settings.toml")
_PRIVATE_FOLDERS = ("logs", "pasted")
_checked: set[Path] = set()
_notes: list[str] = []


def _location_file() -> Path:
    """Where the user's choice of data folder is remembered (outside the data folder)."""
    return Path(platformdirs.user_config_dir(APP_NAME)) / "data-folder.txt"


def data_dir() -> Path:
    override = os.environ.get("LEXBRIEF_HOME")
    if override:
        path = Path(override).expanduser()
    else:
        chosen = _location_file()
        text = chosen.read_text(encoding="utf-8").strip() if chosen.is_file() else ""
        path = Path(text) if text else Path(platformdirs.user_data_dir(APP_NAME))
    path.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR_MODE)
    if path not in _checked:
        _checked.add(path)
        _notes.extend(repair_permissions(path))
    return path


def repair_permissions(root: Path) -> list[str]:
    """Take group and other access away from the data folder and what LexBrief keeps in it
    (not from anything else a user may have put there). Returns a note per change."""
    if os.name != "posix":
        return []  # Windows: the per-user AppData folder's ACL already keeps others out
    notes: list[str] = []

    def fix(path: Path, directory: bool) -> None:
        try:
            info = path.lstat()
        except FileNotFoundError:
            return
        if stat.S_ISLNK(info.st_mode) or stat.S_ISDIR(info.st_mode) != directory:
            return
        mode = stat.S_IMODE(info.st_mode)
        wanted = mode & ~0o077 | (PRIVATE_DIR_MODE if directory else 0)
        if wanted == mode:
            return
        try:
            os.chmod(path, wanted)
        except OSError as exc:
            notes.append(f"{path} is readable by other accounts (mode {mode:o}) and could not "
                         f"be made private: {exc.strerror or exc}")
            return
        notes.append(f"{path} was readable by other accounts (mode {mode:o}); now {wanted:o}")

    fix(root, True)
    for name in _PRIVATE_FILES:
        fix(root / name, False)
    for name in _PRIVATE_FOLDERS:
        folder = root / name
        fix(folder, True)
        if folder.is_dir() and not folder.is_symlink():
            for child in folder.iterdir():
                fix(child, False)
    return notes


def repair_notes() -> list[str]:
    """What `repair_permissions` changed since the last call (for the log, once it is open)."""
    notes = list(_notes)
    _notes.clear()
    return notes


def private_opener(path: str, flags: int) -> int:
    """`open(..., opener=private_opener)`: a file created by it is 0600 whatever the umask."""
    return os.open(path, flags, PRIVATE_FILE_MODE)


def create_private(path: Path) -> None:
    """Create `path` empty and 0600 if it does not exist (its writer then keeps that mode)."""
    if not path.exists():
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT, PRIVATE_FILE_MODE))


def choose_data_dir(path: Path | None) -> None:
    """Remember another data folder for the next start (None: back to the default)."""
    location = _location_file()
    if path is None:
        location.unlink(missing_ok=True)
        return
    path.mkdir(parents=True, exist_ok=True)
    location.parent.mkdir(parents=True, exist_ok=True)
    location.write_text(str(path), encoding="utf-8")


def database_path() -> Path:
    return data_dir() / "lexbrief.db"


def log_dir() -> Path:
    path = data_dir() / "logs"
    path.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR_MODE)
    return path


def _bundled_folder(name: str) -> Path:
    """A top-level data folder (`resources`, `models`) wherever this copy of LexBrief runs from.

    A wheel and a frozen bundle carry it inside the package; an editable checkout reads the
    folder at the repository's top level.
    """
    package = Path(__file__).resolve().parent
    candidates = [package / "_data" / name, package.parents[1] / name]
    frozen_root = getattr(sys, "_MEIPASS", None)
    if frozen_root:
        candidates.insert(0, Path(frozen_root) / name)
    for candidate in candidates:
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"LexBrief's '{name}' folder is missing from this installation")


def resource_dir() -> Path:
    return _bundled_folder("resources")


def models_dir() -> Path:
    return _bundled_folder("models")
