"""A faithful local 9Pic API with a presigned "storage" host and fault knobs.

Used by the test suite, ``syncer demo`` and the benchmarks::

    with Simulator(SimConfig(events=2, photos_per_event=10)) as sim:
        sim.base_url, sim.org_id, sim.api_key

Choices made where the vendor documentation is silent (see the API reference, §10):

* out-of-range ``page_size`` -> 422 (``SimConfig.oversize_page="clamp"`` clamps instead);
  ``page < 1``, ``page_size < 1`` and non-integers -> 422; beyond the last page -> 200, empty.
* partially invalid ``image_ids`` -> ``failed_urls`` entries with ``path: null``
  (``partial_invalid_ids="drop"`` drops them); duplicates are answered once; pages of
  original-photos slice the resolved list; ``total_images`` counts the whole request,
  ``successful_count``/``failed_count`` the current page; unknown selfie ``request_id`` -> 404.
* ``timeline/images`` takes optional ``from``/``to`` (epoch seconds, ``[from, to)``), page size
  32 / max 100; BIB results, face results and download items follow All Photos order.
* Face Search: multipart field ``file``; ``request_id`` as form field or query parameter (must
  be a UUID, else 400); a client-chosen new ``request_id`` is accepted with a selfie.
* Face Search matches deterministically from the selfie's bytes; a selfie carrying the marker
  ``9PIC-BIB:<bib>;`` (see :func:`selfie_jpeg`) matches exactly that BIB's photos.
* Video Clipping start answers 202 ``{request_id, status, clips, error}``; polls go
  ``pending`` -> ``processing`` -> ``completed`` (or ``failed``) after ``Faults.clip_polls``.
  A completed job lists ``clips[]`` of ``{clip_url, source_video, start_seconds,
  duration_seconds}``; ``clip_url`` is ``<base>/clips/<event_id>/<request_id>/<n>.mp4``, public
  (no key, no signature): a small well-formed MP4 (``ftyp`` first), ``video/mp4``, ranges served.
  A search with no match completes with no clips.
* Storage knobs: ``slow_storage_seconds`` waits before the first byte of every original or clip;
  ``storage_bytes_per_second`` caps each body's rate. ``SimStats.full_downloads`` counts, per
  image id, the 200 answers whose complete body went out (double downloads show as counts > 1);
  ``GET /_sim/stats`` serves every counter as JSON (for a simulator in another process).
* ``status: "draft"`` / ``event_enabled: false`` do not block listing or downloads.
* 429 bodies are a gateway's ``{"message": "Too Many Requests"}`` (no envelope); 502/503 are HTML,
  504 plain text, 500 uses the envelope. Storage errors are S3-style XML.
* Presigned URLs: ``<storage base>/<event_id>/<image_id>.jpg?expires=<epoch>&sig=<hmac>``;
  responses carry ``Content-Length``, ``Accept-Ranges`` and an S3-like ``ETag`` (the MD5).
* The API reports each photo's true JPEG ``width``/``height``; ``original_url`` is null.
"""

from syncer.sim.config import SimConfig
from syncer.sim.faults import Faults
from syncer.sim.selfie import bib_marker, selfie_jpeg
from syncer.sim.server import Simulator
from syncer.sim.stats import SimStats
from syncer.sim.world import SimEvent, SimPhoto

__all__ = [
    "Faults",
    "SimConfig",
    "SimEvent",
    "SimPhoto",
    "SimStats",
    "Simulator",
    "bib_marker",
    "selfie_jpeg",
]
