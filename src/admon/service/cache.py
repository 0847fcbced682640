"""A small thread-safe LRU of serialized responses (the results reads of dashboards).

Keys must contain everything the response depends on, including a version that
changes when the data does (:func:`admon.service.repo.results_version`), so an
entry is never stale; access control runs before the cache is consulted.

>>> c = ResponseCache(2)
>>> c.put("a", b"1"); c.put("b", b"2"); c.get("a"); c.put("c", b"3")
b'1'
>>> c.get("b") is None, c.get("a"), len(c)
(True, b'1', 2)
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable


class ResponseCache:
    def __init__(self, maxsize: int = 256) -> None:
        self.maxsize = maxsize
        self._data: OrderedDict[Hashable, bytes] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> bytes | None:
        if self.maxsize <= 0:
            return None
        with self._lock:
            value = self._data.get(key)
            if value is not None:
                self._data.move_to_end(key)
            return value

    def put(self, key: Hashable, value: bytes) -> None:
        if self.maxsize <= 0:
            return
        with self._lock:
            self._data[key] = value
            self._data.move_to_end(key)
            while len(self._data) > self.maxsize:
                self._data.popitem(last=False)

    def __len__(self) -> int:
        return len(self._data)
