"""Static settings of one simulated 9Pic world (what exists, where it listens, which quirks)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from syncer.errors import ConfigError

OVERSIZE_MODES = ("reject", "clamp")
PARTIAL_MODES = ("failed", "drop")
MAX_EVENTS = 400
MAX_PHOTO_BYTES = 100_000_000
DEFAULT_PORT = 8903  # where `syncer simulate` listens unless told otherwise (and `syncer demo`)


@dataclass
class SimConfig:
    """Everything that is fixed for the lifetime of a :class:`~syncer.sim.Simulator`."""

    seed: int = 1
    org_id: int = 903
    api_key: str = field(default="demo-key-903", repr=False)
    events: int = 4
    photos_per_event: int = 40
    photo_bytes: int = 200_000
    host: str = "127.0.0.1"
    port: int = 0
    presign_ttl: float = 3600.0
    oversize_page: str = "reject"
    partial_invalid_ids: str = "failed"
    storage_base_url: str | None = None
    data_dir: Path | None = None
    allowed_hosts: tuple[str, ...] = ()
    non_hex_ids: bool = False
    clip_bytes: int = 48_000
    timeline_page_max: int = 100  # timeline/images page_size maximum (undocumented by 9Pic)
    # the names of timeline/images' window bounds (undocumented by 9Pic; unknown ones are ignored)
    timeline_window_params: tuple[str, str] = ("from", "to")
    tls_cert: Path | None = None  # with tls_key: serve HTTPS (API and presigned storage URLs)
    tls_key: Path | None = None

    def validate(self) -> None:
        """Raise :class:`ConfigError` naming the first bad setting."""
        _require(0 <= self.events <= MAX_EVENTS, f"events must be 0..{MAX_EVENTS}")
        _require(0 <= self.photos_per_event <= 1_000_000, "photos_per_event must be >= 0")
        _require(
            0 <= self.photo_bytes <= MAX_PHOTO_BYTES, f"photo_bytes must be 0..{MAX_PHOTO_BYTES}"
        )
        _require(
            0 <= self.clip_bytes <= MAX_PHOTO_BYTES, f"clip_bytes must be 0..{MAX_PHOTO_BYTES}"
        )
        _require(0 <= self.port <= 65535, f"port must be 0..65535, got {self.port}")
        _require(1 <= self.timeline_page_max <= 1000, "timeline_page_max must be 1..1000")
        _require(self.presign_ttl >= 0, "presign_ttl must be >= 0 seconds")
        _require(self.org_id > 0, "org_id must be a positive integer")
        _require(bool(self.api_key.strip()), "api_key must not be empty")
        _require(
            self.oversize_page in OVERSIZE_MODES,
            f"oversize_page must be one of {', '.join(OVERSIZE_MODES)}",
        )
        _require(
            self.partial_invalid_ids in PARTIAL_MODES,
            f"partial_invalid_ids must be one of {', '.join(PARTIAL_MODES)}",
        )
        _require(
            (self.tls_cert is None) == (self.tls_key is None),
            "tls_cert and tls_key go together (a PEM certificate chain and its private key)",
        )
        if self.storage_base_url is not None:
            _require(
                self.storage_base_url.startswith(("http://", "https://")),
                "storage_base_url must start with http:// or https://",
            )


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise ConfigError(f"simulator: {message}")
