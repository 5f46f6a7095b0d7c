"""A revocation that cannot reach Redis (unreachable from the revoking process only) still
takes effect everywhere within the watermark's refresh interval."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from nexod.auth.base import Principal
from nexod.auth.keys import ApiKeys
from nexod.auth.revocations import REFRESH, Watermark
from nexod.auth.sessions import Sessions
from nexod.cache.base import Caches
from nexod.db.engine import create_engine, sessionmaker
from nexod.db.migrate import upgrade
from nexod.errors import Unauthenticated
from nexod.settings import Settings
from tests.servers import RedisServer, free_port


async def test_revocation_behind_a_partition(redis_server: RedisServer, tmp_path: Path) -> None:
    engine = create_engine(Settings(data_dir=tmp_path))
    await upgrade(engine)
    db = sessionmaker(engine)
    near, far = Caches(redis_server.url), Caches(f"redis://127.0.0.1:{free_port()}/0")
    await near.setup()
    await far.setup()
    try:
        # Process A serves requests and caches in Redis; process B cannot reach Redis.
        keys_a, keys_b = ApiKeys(db, near, Watermark(db)), ApiKeys(db, far, Watermark(db))
        sessions_a = Sessions(db, near, 3600, Watermark(db))
        sessions_b = Sessions(db, far, 3600, Watermark(db))
        new = await keys_a.create("org_1", name="k")
        assert (await keys_a.verify(new.secret)).subject == f"key:{new.row.key_id}"
        assert near.hits == 0
        await keys_a.verify(new.secret)
        assert near.hits == 1  # served from L1
        who = Principal(org_id="org_1", subject="user_1", kind="clerk", role="member")
        token = await sessions_a.create(who)
        await sessions_a.resolve(token)

        await keys_b.revoke("org_1", new.row.key_id)
        await sessions_b.end(token)
        assert await near.peek(f"nexod:l1:key:{new.row.digest}") is not None  # Redis was not told
        await asyncio.sleep(REFRESH + 0.1)
        with pytest.raises(Unauthenticated, match="revoked"):
            await keys_a.verify(new.secret)
        with pytest.raises(Unauthenticated, match="ended"):
            await sessions_a.resolve(token)
        # In the revoking process it is refused at once.
        with pytest.raises(Unauthenticated):
            await keys_b.verify(new.secret)
    finally:
        await near.close()
        await far.close()
        await engine.dispose()
