"""Run an import: open the file, map its header, feed chunks to the kind's engine, report."""

from __future__ import annotations

import queue
import sys
import threading
from collections.abc import Callable, Generator, Iterator
from contextlib import closing
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from django.utils import timezone

from huitou.accounts import permissions
from huitou.core.errors import PermissionDenied

from .base import Context, Engine, map_header
from .customers import CustomerEngine
from .errors import ImportFileError
from .layout import LAYOUTS, canonical_kind
from .others import OwnedProductEngine, ProductEngine, PurchaseEngine
from .readers import open_rows
from .result import ImportResult

if TYPE_CHECKING:
    from huitou.accounts.models import Organisation, User

# Each chunk costs a fixed dozen statements and a commit; at 20,000 rows these are amortised
# (5,000 -> 20,000 gave ~8% on PostgreSQL) while a chunk's parsed rows stay ~40 MB.
CHUNK_ROWS = 20_000
ENGINES: dict[str, type[Engine]] = {
    "customers": CustomerEngine,
    "products": ProductEngine,
    "owned_products": OwnedProductEngine,
    "purchases": PurchaseEngine,
}
# `huitou import products` takes both the catalogue and the customers' products: a file that
# names a customer or a VIN is the list of owned products.
_OWNED_MARKERS = {"customer_external_id", "customer_phone", "vin", "plate", "delivered_on"}

ProgressCallback = Callable[[int, int], None]  # (rows processed, approximate total)


def resolve_organisation(organisation_slug: str | None, actor: User | None) -> Organisation:
    from huitou.accounts.models import Organisation

    if actor is not None:
        if not permissions.is_active_member(actor) or actor.organisation is None:
            raise PermissionDenied("you are not a member of an organisation")
        return actor.organisation
    qs = Organisation.objects.all()
    if organisation_slug:
        try:
            return qs.get(slug=organisation_slug)
        except Organisation.DoesNotExist:
            raise ImportFileError(f"no organisation {organisation_slug!r}") from None
    orgs = list(qs[:2])
    if not orgs:
        raise ImportFileError("there is no organisation yet; run `huitou demo` or create one first")
    if len(orgs) > 1:
        raise ImportFileError("there are several organisations; say which with --org SLUG")
    return orgs[0]


def _detect_kind(kind: str, header: list[str]) -> str:
    if kind != "products":
        return kind
    owned = map_header_safe("owned_products", header)
    return "owned_products" if owned and _OWNED_MARKERS & set(owned) else "products"


def map_header_safe(kind: str, header: list[str]) -> dict[str, int] | None:
    try:
        return map_header(LAYOUTS[kind], header)
    except ImportFileError:
        return None


def import_file(
    *,
    kind: str,
    path: Path,
    dry_run: bool = False,
    progress: bool = False,
    organisation_slug: str | None = None,
    actor: User | None = None,
    display_name: str | None = None,
    on_progress: ProgressCallback | None = None,
) -> ImportResult:
    """Import ``path`` into the organisation. ``actor`` is the importing user (None from the CLI,
    which runs with the server's authority). Raises ImportFileError for an unusable file."""
    kind = canonical_kind(kind)
    if kind not in ENGINES:
        raise ImportFileError(f"unknown import kind {kind!r}; use one of: {', '.join(ENGINES)}")
    if actor is not None and not permissions.can_import(actor):
        raise PermissionDenied("only the owner and managers import data")
    organisation = resolve_organisation(organisation_slug, actor)
    path = Path(path)
    opened = open_rows(path)
    engine: Engine | None = None
    try:
        kind = _detect_kind(kind, opened.header)
        positions = map_header(LAYOUTS[kind], opened.header)
        name = display_name or path.name
        result = ImportResult(kind=kind, filename=name, dry_run=dry_run)
        ctx = Context(
            organisation=organisation,
            actor=actor,
            dry_run=dry_run,
            filename=name,
            now=timezone.now(),
            region=organisation.policy.archive.default_region,
            result=result,
        )
        ctx.load_people()
        engine = ENGINES[kind](ctx, positions)
        bar = _progress_bar(progress, opened.approx_rows, kind)
        try:
            with closing(_prepared_chunks(engine, opened.rows)) as chunks:
                for size, prepared in chunks:
                    engine.process(prepared)
                    result.rows += size
                    bar.update(size)
                    if on_progress is not None:
                        on_progress(result.rows, max(opened.approx_rows, result.rows))
        finally:
            bar.close()
    finally:
        opened.close()
        if engine is not None:
            engine.close()
    return result


_DONE = object()


def _prepared_chunks(
    engine: Engine, rows: Iterator[tuple[int, list[str]]]
) -> Generator[tuple[int, Any], None, None]:
    """(rows in the chunk, ``engine.prepare(chunk)``), read and prepared one chunk ahead.

    Reading and validating a chunk is pure Python; the database work of the previous chunk is
    mostly waiting on the server, during which psycopg and sqlite3 release the GIL. A reader
    thread lets the two overlap: parsing (~40 us a row) then costs next to nothing on the
    critical path. A worker process would overlap more, but every prepared row would then be
    pickled across, and on two cores the database server needs the other one. The database
    work itself stays on the caller's thread and connection, so transactions, tests and the
    job's progress updates are unchanged.
    At most two prepared chunks wait in the queue: memory stays bounded.
    """
    chunks: queue.Queue[object] = queue.Queue(maxsize=2)
    stop = threading.Event()

    def put(item: object) -> bool:
        while not stop.is_set():
            try:
                chunks.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def read() -> None:
        try:
            while not stop.is_set() and (batch := list(islice(rows, CHUNK_ROWS))):
                if not put((len(batch), engine.prepare(batch))):
                    return
        except BaseException as exc:  # handed to the caller, raised there in file order
            put(exc)
            return
        put(_DONE)

    reader = threading.Thread(target=read, name="huitou-import-reader", daemon=True)
    reader.start()
    try:
        while (item := chunks.get()) is not _DONE:
            if isinstance(item, BaseException):
                raise item
            yield cast("tuple[int, Any]", item)
    finally:
        # Stop the reader before the caller closes the file under it.
        stop.set()
        reader.join()


def _progress_bar(enabled: bool, total: int, kind: str):  # type: ignore[no-untyped-def]
    from tqdm import tqdm

    return tqdm(
        total=total or None, unit=" rows", desc=f"import {kind}", file=sys.stderr, disable=not enabled
    )
