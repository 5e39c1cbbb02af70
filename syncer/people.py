"""People: one selfie search per person and event, its matches recorded in the ledger.

A search runs when the person (with this selfie) was never searched, when the last POST did
not answer (it is sent again with the same ``request_id``, so 9Pic returns the cached result
instead of matching twice), or when the event gained photos since the last search covered it
(a cached result cannot see them). Later pages are read from the cached result
(``GET .../faces/{request_id}``). Matches are only ever added.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime

from syncer.api import ApiClient, EventDetails, FaceSearchResult, OriginalsMethod
from syncer.errors import ApiError, AuthError, BadRequestError, NotFoundError
from syncer.ledger import Ledger, PersonSearch
from syncer.report import PersonReport
from syncer.selection import Found
from syncer.selfies import Person

log = logging.getLogger("syncer.people")

PAGE_SIZE = 100


class PeopleSearch:
    """Runs the due selfie searches of an event's people and records their matches."""

    def __init__(
        self,
        api: ApiClient,
        ledger: Ledger,
        *,
        clock: Callable[[], datetime],
        stop: threading.Event,
        field: str = "file",
    ) -> None:
        self._api = api
        self._ledger = ledger
        self._clock = clock
        self._stop = stop
        self._field = field
        self.found: dict[str, Found] = {}  # person -> the last search's request_id and matches

    def run(
        self,
        event_id: int,
        people: Sequence[Person],
        details: EventDetails,
        *,
        fresh: bool = False,
    ) -> list[PersonReport]:
        """Search for each person (when due, or every time with ``fresh``); a failed search is
        that person's failure. :attr:`found` holds what this call's searches matched."""
        self.found = {}
        if not people:
            return []
        if not details.selfie_search:
            log.warning(
                "event %d: selfie search is disabled for this event; people folders not "
                "updated (%s)",
                event_id,
                ", ".join(person.name for person in people),
            )
            return []
        reports = []
        for person in people:
            if self._stop.is_set():
                break
            report = PersonReport(person.name)
            reports.append(report)
            try:
                self._search(event_id, person, report, fresh=fresh)
            except AuthError:
                raise
            except ApiError as exc:
                report.error = f"selfie search failed: {exc.message}"
                log.error(  # noqa: TRY400 (an expected failure: one line)
                    "event %d: person %s: %s; tried again next run",
                    event_id,
                    person.name,
                    report.error,
                )
        return reports

    def _search(self, event_id: int, person: Person, report: PersonReport, *, fresh: bool) -> None:
        search = self._ledger.person_search(event_id, person.name, person.sha256)
        covered = None if search is None else search.covered_mark
        if not fresh and covered is not None and covered >= self._ledger.photo_mark(event_id):
            log.debug(
                "event %d: person %s: no new photos since the last search", event_id, person.name
            )
            return
        search = self._begin(event_id, person, search)
        report.searched = True
        request_id, image_ids = self._matches(event_id, person, search.request_id)
        self.found[person.name] = Found(request_id, frozenset(image_ids))
        report.matches = self._ledger.record_person_matches(
            search, image_ids, self._clock(), request_id=request_id
        )
        log.info(
            "event %d: person %s: %d photos matched, %d new",
            event_id,
            person.name,
            len(image_ids),
            report.matches,
        )

    def _begin(self, event_id: int, person: Person, search: PersonSearch | None) -> PersonSearch:
        """The search to send: a POST that never answered keeps its ``request_id``."""
        if search is not None and search.covered_mark is None:
            return search
        request_id = str(uuid.uuid4())
        self._ledger.begin_person_search(event_id, person.name, person.sha256, request_id)
        return PersonSearch(event_id, person.name, person.sha256, request_id)

    def _matches(self, event_id: int, person: Person, request_id: str) -> tuple[str, set[str]]:
        """Every photo the search matches, and the request_id 9Pic answered under."""
        try:
            first = self._post(event_id, person, request_id)
        except (BadRequestError, NotFoundError) as exc:
            # 9Pic may refuse a request_id it did not make (undocumented): let it make one
            log.info(
                "event %d: person %s: the search refused request_id %s (%s); sent without one",
                event_id,
                person.name,
                request_id,
                exc.api_message,
            )
            first = self._post(event_id, person, None)
        answered = first.request_id or request_id
        found = {image.image_id for image in first.images}
        if first.pagination.has_next_page and first.images:
            pages = self._api.face_pages(event_id, answered, page_size=PAGE_SIZE, start_page=2)
            for page in pages:
                found.update(image.image_id for image in page.images)
        return answered, found

    def _post(self, event_id: int, person: Person, request_id: str | None) -> FaceSearchResult:
        return self._api.face_search(
            event_id,
            person.data,
            filename=person.filename,
            content_type=person.content_type,
            request_id=request_id,
            page_size=PAGE_SIZE,
            field=self._field,
        )


class SelfieSelector:
    """``--selfie PATH --only``: each person's search, their photos linked by the method
    ``selfie`` with the search's ``request_id``. Every run searches afresh: without a walk,
    nothing else would tell that the event has new photos."""

    method: OriginalsMethod = "selfie"

    def __init__(
        self, searches: PeopleSearch, people: Sequence[Person], details: EventDetails
    ) -> None:
        self._searches = searches
        self._people = people
        self._details = details
        self.reports: list[PersonReport] = []  # what find() did for each person

    def gate(self, details: EventDetails) -> str | None:
        if details.selfie_search:
            return None
        return "selfie search is disabled for this event; its people's photos cannot be selected"

    def find(self, event_id: int) -> list[Found]:
        self.reports = self._searches.run(event_id, self._people, self._details, fresh=True)
        found = self._searches.found
        return [found[p.name] for p in self._people if p.name in found and found[p.name].image_ids]
