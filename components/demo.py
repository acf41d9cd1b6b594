"""The demo: the embedded world turned into running stores, models and a served feed.

Everything the first run builds lives in the state folder (:func:`state_dir`: ``--state
DIR``, else ``$FEEDMIXER_VAR/demo``, else ``demo/`` in the per-user data folder) and is
reused by the next run: the SQLite user store (with its served history), the Thunder
event log, the corpus embeddings. The first run seeds the store and the log atomically
(built beside the folder, swapped in whole, under a file lock: see
:mod:`components.stores.state_folder`), so concurrent first runs seed once and a killed one
leaves nothing half-written. ``fresh=True`` deletes the user store and the event log, so
served history starts empty. A damaged store or log raises :class:`StateCorrupt` naming
the file (and line) and how to recover.

Only what the recipes need is built (:func:`build_resources` takes their declared
``needs``): the chronological feed starts without loading a model. Models: the demo
checkpoints shipped as package data (:func:`components.assets.demo_checkpoints`, made by
the project's training command from ``checkpoints/demo``); without them, untrained tiny
models stand in and the feed says so.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from components import resources as keys
from components.assets import demo_checkpoints
from components.models import ForYouQuery
from components.phoenix import PhoenixRanking, PhoenixRetrieval
from components.stores.post_catalog import PostCatalog
from components.stores.state_folder import StateCorrupt, StateFolder
from components.stores.user_store import UserStore, UserStoreCorrupt
from components.thunder.event_log import EventLog, EventLogCorrupt, replay
from components.thunder.store import ThunderStore
from components.world import (
    author_directory,
    create_events,
    load_user_store,
    posts_from_world,
)

EXACT_SEARCH_MAX = 200_000
STREAM_PAGE = 1_000
EVENT_STREAM = "event_stream"
"""Resource key (outside :data:`components.resources.ALL`): the
:class:`~components.thunder.redis_stream.StreamFollower` feeding Thunder when the user
store is in Redis; its ``event_log`` is where ingestion appends; stopped by
:func:`close_resources`."""
Say = Callable[[str], None]


def state_dir() -> Path:
    """The demo's default state folder: ``$FEEDMIXER_VAR/demo``, else ``demo/`` in the
    per-user data folder (``~/.local/share/feedmixer`` on Linux), never inside the installed
    package. ``make demo`` passes ``--state var/demo`` to keep a checkout's state beside it."""
    from platformdirs import user_data_path

    root = os.environ.get("FEEDMIXER_VAR")
    return (Path(root) if root else user_data_path("feedmixer")) / "demo"


def world_key(world: Any) -> str:
    return hashlib.sha256(repr(world.config).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class DemoPaths:
    root: Path

    @property
    def user_store(self) -> Path:
        return self.root / "users.sqlite"

    @property
    def event_log(self) -> Path:
        return self.root / "thunder" / "events.log"

    def corpus(self, key: str) -> Path:
        return self.root / "corpus" / f"{key}.npz"

    @property
    def state(self) -> StateFolder:
        """The folder as one seeded unit (the corpus cache survives a re-seed)."""
        return StateFolder(self.root, keep=("corpus",))

    def reset(self) -> None:
        """Forget served history and Thunder's log (models and corpus caches stay): the next
        run seeds them again."""
        self.state.reset(
            self.user_store.name,
            f"{self.user_store.name}-wal",
            f"{self.user_store.name}-shm",
            self.event_log.parent.name,
        )


def seed_state(paths: DemoPaths, world: Any, posts: list, say: Say) -> None:
    """Seed the state folder from ``world`` unless it already holds it: the user store and
    Thunder's event log are built in a temporary sibling and swapped in whole, under a file
    lock, so concurrent first runs seed once and a killed run leaves nothing half-written."""
    key = world_key(world)

    def build(folder: Path) -> None:
        say("loading the demo world into the user store")
        store = UserStore(folder / paths.user_store.name)
        try:
            load_user_store(store, world)
            store.set_meta("world", key)
        finally:
            store.close()
        say("writing the demo world's post events")
        log = EventLog(folder / paths.event_log.relative_to(paths.root), fsync=False)
        log.append(create_events(posts))  # the whole folder is fsynced before the swap

    paths.state.seed(key, build)


def open_user_store(path: Path, world: Any, say: Say) -> Any:
    """The demo user store, checked for damage: the SQLite file at ``path`` (seeded by
    :func:`seed_state`), or the store named by ``$FEEDMIXER_USER_STORE`` when it is set (a
    URL, :mod:`components.stores.open`; a Redis store is seeded here from ``world``, once
    for all the replicas that share it)."""
    from components.stores.open import USER_STORE_ENV, is_redis_url
    from components.stores.open import open_user_store as open_url

    url = os.environ.get(USER_STORE_ENV)
    if url:
        store = open_url(url)
        if is_redis_url(url) and store.seed(world_key(world), lambda s: load_user_store(s, world)):
            say(f"loaded the demo world into the user store at {url}")
        return store
    try:
        store = UserStore(path)
        store.verify()
    except UserStoreCorrupt as exc:
        raise _damaged(path, exc) from None
    return store


def open_thunder(path: Path, world: Any, posts: list, say: Say) -> ThunderStore:
    """A Thunder store on the world's clock, rebuilt by replaying the event log (seeded by
    :func:`seed_state`; a missing or empty log at ``path`` is first written from ``posts``,
    to a temporary file renamed into place, so it is never seen half-written)."""
    if posts and (not path.exists() or path.stat().st_size == 0):
        say("writing the demo world's post events")
        temporary = path.with_name(f".{path.name}.tmp-{os.getpid()}")
        EventLog(temporary).append(create_events(posts))  # fsynced
        os.replace(temporary, path)
    store = ThunderStore(clock=lambda: float(world.now))
    try:
        stats = replay(EventLog(path), store)
    except EventLogCorrupt as exc:
        raise _damaged(path, exc) from None
    say(f"Thunder: replayed {stats.events} events, {len(store)} posts in retention")
    return store


def shared_stream_url() -> str | None:
    """The Redis URL of ``$FEEDMIXER_USER_STORE`` when it names one: then Thunder is fed by
    the post-event stream on that server (shared by every replica), not the local log."""
    from components.stores.open import USER_STORE_ENV, is_redis_url

    url = os.environ.get(USER_STORE_ENV)
    return url if url and is_redis_url(url) else None


def follow_stream(
    url: str, world: Any, posts: list, catalog: PostCatalog, say: Say
) -> tuple[ThunderStore, Any]:
    """Thunder fed by the post-event stream at ``url``, as each of X's Thunder replicas
    consumes Kafka: the world's posts are appended first (the stream skips the ones it
    holds, so replicas starting together append them once), the stream is replayed, then
    followed in a thread. Every applied batch also updates ``catalog``, so posts ingested
    through another replica are hydrated here. Returns (store, follower)."""
    from components.stores.open import open_event_stream
    from components.thunder.redis_stream import StreamFollower

    stream = open_event_stream(url)
    events = create_events(posts)
    appended = sum(
        len(stream.append(events[start : start + STREAM_PAGE]))
        for start in range(0, len(events), STREAM_PAGE)
    )
    if appended:
        say(f"appended {appended} of the demo world's post events to the stream at {url}")
    store = ThunderStore(clock=lambda: float(world.now))
    follower = StreamFollower(stream, store, also=lambda batch: _to_catalog(batch, store, catalog))
    stats = follower.catch_up()
    say(f"Thunder: replayed {stats.events} stream events, {len(store)} posts in retention")
    follower.start()
    return store, follower


def _to_catalog(events: Sequence[Any], thunder: ThunderStore, catalog: PostCatalog) -> None:
    """Apply stream events to the catalog as Thunder took them: a deleted post stays out."""
    catalog.put_many(
        e.post for e in events if e.post is not None and not thunder.is_deleted(e.post_id)
    )
    for event in events:
        if event.post is None:
            catalog.delete(event.post_id)


def _damaged(path: Path, exc: Exception) -> StateCorrupt:
    root = path.parent.parent if path.parent.name == "thunder" else path.parent
    return StateCorrupt(
        f"{exc}. The demo state is damaged: run `feedmixer demo --fresh` to rebuild it "
        f"(or delete {root})"
    )


def load_models(say: Say) -> tuple[Any, Any, str | None]:
    """(ranker, retriever, checkpoint fingerprint): the shipped demo checkpoints, or
    untrained tiny models (fingerprint ``None``) when they are missing."""
    from phoenix_models import PhoenixConfig, Ranker, Retriever

    checkpoints = demo_checkpoints()
    ranker_dir, retrieval_dir = checkpoints / "ranker", checkpoints / "retrieval"
    if ranker_dir.exists() and retrieval_dir.exists():
        stamp = sorted(
            (p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in retrieval_dir.iterdir()
        )
        return Ranker.load(ranker_dir), Retriever.load(retrieval_dir), repr(stamp)
    say(f"no demo checkpoints under {checkpoints}: using UNTRAINED tiny models")
    config = PhoenixConfig.tiny()
    return Ranker.init(config, seed=0), Retriever.init(config, seed=0), None


def build_retrieval(
    retriever: Any, world: Any, cache: Path, say: Say, posts: Any = None
) -> PhoenixRetrieval:
    """Retrieval over the posts inside the retention window, corpus cached on disk (a
    content-aware tower embeds each post from its text and media too). ``posts`` looks up
    history posts' content (``PostCatalog.get_many``)."""
    from phoenix_models import Corpus, CorpusIndex, build_corpus
    from phoenix_models.train_tasks import demo_post_features

    if cache.exists():
        corpus = Corpus.load(cache)
    else:
        say("embedding the corpus with the candidate tower")
        world_posts = world.posts
        fresh = world_posts.created_at >= world.now - 172_800
        sids = media = None
        if retriever.config.has_content:
            sids, media = demo_post_features(world, retriever.content).lookup(
                world_posts.post_id[fresh]
            )
        corpus = build_corpus(
            retriever,
            world_posts.post_id[fresh],
            world_posts.author_id[fresh],
            sids=sids,
            media=media,
            progress=False,
        )
        cache.parent.mkdir(parents=True, exist_ok=True)
        corpus.save(cache)
    # Exact search over a demo-sized corpus is a millisecond; ANN only pays off far above.
    method = "exact" if len(corpus) <= EXACT_SEARCH_MAX else "auto"
    return PhoenixRetrieval(retriever, CorpusIndex.build(corpus, method), posts=posts)


def build_resources(
    world: Any,
    paths: DemoPaths,
    *,
    needs: Collection[str] = keys.ALL,
    say: Say = lambda _: None,
    models: tuple[Any, Any] | None = None,
    warm_up_candidates: int = 0,
) -> dict[str, Any]:
    """The For-You resources in ``needs`` (the recipes' ``Pipeline.needs``; default: all of
    them) for ``world``, each built once, plus ``"models_trained"`` (``None`` without models).

    Keys outside :data:`components.resources.ALL` are left for the caller. JAX models load
    only for :data:`~components.resources.MODELS`; ``models`` overrides the (ranker,
    retriever) pair (tests pass tiny ones). ``warm_up_candidates`` is the largest candidate
    count the ranker compiles ahead of requests: 0 for a one-shot run (it compiles the one
    shape it uses), the served sizes for a service.
    """
    needs = frozenset(needs)
    posts = posts_from_world(world)
    stream_url = shared_stream_url()
    if needs & {keys.USER_STORE, keys.THUNDER} and stream_url is None:
        seed_state(paths, world, posts, say)
    catalog = PostCatalog(posts)
    builders: dict[str, Callable[[], Any]] = {
        keys.USER_STORE: lambda: open_user_store(paths.user_store, world, say),
        keys.THUNDER: lambda: open_thunder(paths.event_log, world, posts, say),
        keys.POSTS: lambda: catalog,
        keys.AUTHORS: lambda: author_directory(world),
    }
    resources: dict[str, Any] = {}
    if keys.THUNDER in needs and stream_url is not None:
        resources[keys.THUNDER], resources[EVENT_STREAM] = follow_stream(
            stream_url, world, posts, catalog, say
        )
    for key, build in builders.items():
        if key in needs and key not in resources:
            resources[key] = build()
    resources["models_trained"] = None
    if needs & keys.MODELS:
        if models is None:
            ranker, retriever, checkpoint = load_models(say)
        else:
            (ranker, retriever), checkpoint = models, None
        if keys.RANKER in needs:
            resources[keys.RANKER] = PhoenixRanking(
                ranker, warm_up_candidates=warm_up_candidates, posts=catalog.get_many
            )
        if keys.RETRIEVAL in needs:
            key = hashlib.sha256(
                f"{world_key(world)}{retriever.config!r}{checkpoint}".encode()
            ).hexdigest()[:16]
            resources[keys.RETRIEVAL] = build_retrieval(
                retriever, world, paths.corpus(key), say, posts=catalog.get_many
            )
        resources["models_trained"] = checkpoint is not None
    return resources


def demo_query(world: Any, user_id: int) -> ForYouQuery:
    """A request at the world's own "now" (its posts are dated relative to it)."""
    return ForYouQuery(user_id=user_id, request_time=float(world.now))


def close_resources(resources: Mapping[str, Any]) -> None:
    follower = resources.get(EVENT_STREAM)
    if follower is not None:
        follower.stop()
        follower.event_log.close()
    store = resources.get(keys.USER_STORE)
    if store is not None:
        store.close()
