"""One simulated event to benchmark against: the simulator (API), nginx (bytes), the truth.

The simulator answers the API and hands out presigned URLs. With nginx they point at nginx,
which serves the simulator's data folder; without it they point at the simulator's own storage
route (then the benchmark process itself serves the bytes, and says so). With ``tls`` nginx
serves HTTPS with a certificate from a throwaway CA made here (``ca``): every tool must be told
to trust it.
"""

from __future__ import annotations

import hashlib
import json
import os
import ssl
import sys
from collections.abc import Callable, Mapping
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import httpx
from bench_nginx import INSTALL_HINT, Nginx, find_nginx
from bench_procs import BenchError
from pydantic import SecretStr

from syncer.api import MAX_BATCH, ApiClient
from syncer.sim import SimConfig, SimPhoto, Simulator

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # tests/: the throwaway CA
from tls_ca import make_ca

PRESIGN_TTL = 7 * 24 * 3600.0  # every URL of a list stays valid for the whole benchmark

Say = Callable[[str], None]


@dataclass(frozen=True)
class Verified:
    files: int
    bytes: int


class BenchWorld:
    """``with BenchWorld(home, photos, size, use_nginx=True, say=print) as world:``."""

    def __init__(
        self,
        home: Path,
        photos: int,
        photo_bytes: int,
        *,
        use_nginx: bool,
        say: Say,
        tls: bool = False,
    ) -> None:
        self.home = home
        self.tls = tls
        self.ca: Path | None = None
        self.photos = photos
        self.photo_bytes = photo_bytes
        self.use_nginx = use_nginx
        self.say = say
        self.storage = "simulator"
        self.event_id = 0
        self._stack = ExitStack()
        self._sim: Simulator | None = None
        self.truth: dict[str, SimPhoto] = {}

    @property
    def sim(self) -> Simulator:
        if self._sim is None:
            raise BenchError("the benchmark world is not started")
        return self._sim

    @property
    def total_bytes(self) -> int:
        return sum(photo.size for photo in self.truth.values())

    def __enter__(self) -> BenchWorld:
        try:
            self._start()
        except BaseException:
            self._stack.close()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stack.close()

    def _start(self) -> None:
        data = self.home / "data"
        data.mkdir(parents=True, exist_ok=True)
        storage_url = self._start_nginx(data)
        self.say(
            f"generating {self.photos} photos of ~{self.photo_bytes / 1e6:g} MB "
            f"(bytes served by {self.storage})"
        )
        config = SimConfig(
            events=1,
            photos_per_event=self.photos,
            photo_bytes=self.photo_bytes,
            presign_ttl=PRESIGN_TTL,
            data_dir=data,
            storage_base_url=storage_url,
        )
        self._sim = self._stack.enter_context(Simulator(config))
        self.event_id = next(e.event_id for e in self.sim.events() if e.configured)
        self.truth = {p.image_id: p for p in self.sim.photos(self.event_id)}
        if self.storage.startswith("nginx"):
            self._check_nginx_serves()
        os.sync()  # untimed: the first tool must not pay for writing the generated photos

    def _start_nginx(self, data: Path) -> str | None:
        binary = find_nginx() if self.use_nginx else None
        if binary is None:
            if self.tls:
                raise BenchError(f"--tls needs nginx ({INSTALL_HINT})")
            if self.use_nginx:
                self.say(f"nginx not found: the simulator serves the bytes itself ({INSTALL_HINT})")
            return None
        keys = None
        if self.tls:
            made = make_ca(self.home / "ca")
            self.ca, keys = made.ca, (made.cert, made.key)
        server = self._stack.enter_context(Nginx(binary, data, self.home / "nginx", tls=keys))
        self.storage = "nginx over HTTPS" if self.tls else "nginx"
        return server.base_url

    def _check_nginx_serves(self) -> None:
        photo = next(iter(self.truth.values()))
        url = self.sim.presign(self.event_id, photo.image_id)
        try:
            trust = ssl.create_default_context(cafile=self.ca) if self.ca else True
            answer = httpx.get(url, timeout=10, verify=trust)
        except httpx.HTTPError as exc:
            raise BenchError(f"nginx does not answer: {type(exc).__name__}") from exc
        if answer.status_code != 200 or len(answer.content) != photo.size:
            raise BenchError(
                f"nginx answered HTTP {answer.status_code} for a photo "
                f"(see {self.home / 'nginx' / 'error.log'})"
            )

    # -- what the tools need -------------------------------------------------------------

    def env(self) -> dict[str, str]:
        """The environment for syncer: the key, and only SYNCER_DOWNLOAD__* settings (tuning)."""
        base = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith("SYNCER_") or k.startswith("SYNCER_DOWNLOAD__")
        }
        trust = {"SSL_CERT_FILE": str(self.ca)} if self.ca is not None else {}
        return {**base, "SYNCER_API_KEY": self.sim.api_key, **trust}

    def write_config(self, run_dir: Path) -> Path:
        """A config with default settings, a fresh root and a fresh ledger in ``run_dir``."""
        run_dir.mkdir(parents=True, exist_ok=True)
        config = run_dir / "syncer.toml"
        lines = [
            "[api]",
            f"base_url = {json.dumps(self.sim.base_url)}",
            f"org_id = {self.sim.org_id}",
            "[storage]",
            f"root = {json.dumps(str(run_dir / 'photos'))}",
            f"ledger = {json.dumps(str(run_dir / 'ledger.sqlite3'))}",
        ]
        config.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return config

    def syncer_argv(
        self,
        config: Path,
        *,
        workers: int | None,
        dry_run: bool = False,
        launcher: list[str] | None = None,
        extra: tuple[str, ...] = (),
    ) -> list[str]:
        """``syncer sync`` for this event (``launcher`` replaces ``python -m syncer``)."""
        argv = [
            *(launcher or [sys.executable, "-m", "syncer"]),
            "--config",
            str(config),
            "sync",
            "--event",
            str(self.event_id),
            "--json",
            "--no-progress",
        ]
        if workers is not None:
            argv += ["--workers", str(workers)]
        if dry_run:
            argv.append("--dry-run")
        return [*argv, *extra]

    def write_url_list(self, path: Path) -> int:
        """Presign every photo (batches of 60, as syncer does) into a URL-per-line file."""
        ids = list(self.truth)
        urls: list[str] = []
        with ApiClient(
            base_url=self.sim.base_url, org_id=self.sim.org_id, api_key=SecretStr(self.sim.api_key)
        ) as api:
            for start in range(0, len(ids), MAX_BATCH):
                answer = api.presign(self.event_id, ids[start : start + MAX_BATCH])
                if answer.failed or answer.missing or answer.invalid:
                    raise BenchError("the simulator refused to presign some photos")
                urls.extend(item.url for item in answer.urls.values())
        path.write_text("\n".join(urls) + "\n", encoding="utf-8")
        return len(urls)

    def verify(self, folder: Path) -> Verified:
        """Every photo under ``folder`` exactly once, with the simulator's bytes (sha256)."""
        return verify_tree(folder, self.truth)


def verify_tree(folder: Path, truth: Mapping[str, SimPhoto]) -> Verified:
    """Raise BenchError unless ``folder`` holds each photo of ``truth`` once, byte-exact.

    Files are matched by name (``<image_id>.jpg``); hidden folders (temp files) are ignored.
    """
    seen: dict[str, Path] = {}
    total = 0
    for path in sorted(folder.rglob("*.jpg")):
        if any(part.startswith(".") for part in path.relative_to(folder).parts):
            continue
        photo = truth.get(path.stem)
        if photo is None or path.stem in seen:
            raise BenchError(f"{path} is not one of the event's photos, or a duplicate")
        with path.open("rb") as handle:
            digest = hashlib.file_digest(handle, "sha256").hexdigest()
        if digest != photo.sha256:
            raise BenchError(f"{path} differs from the simulator's photo (sha256 mismatch)")
        seen[path.stem] = path
        total += photo.size
    if len(seen) != len(truth):
        raise BenchError(f"{folder} holds {len(seen)} of the event's {len(truth)} photos")
    return Verified(len(seen), total)
