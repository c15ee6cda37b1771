"""loadtui.server.stallnews: the news the sidecar's long poll answers with: each stall's start and
end numbered in order, each stall once in its newest state, and an answer that says when news
was missed. Milliseconds, no process or socket (the long poll itself:
tests/server/test_sidecar.py)."""

from __future__ import annotations

import json

from loadtui.server.stallnews import MAX_NEWS, StallNews


def item(started: float, ongoing: bool, culprit: str = "read_items") -> dict[str, object]:
    return {"started_at_epoch": started, "ongoing": ongoing, "culprit": culprit}


def answer(news: StallNews, query: str) -> dict:
    body, content_type = news.answer(query)
    assert content_type == "application/json"
    return json.loads(body)


def test_an_asker_waits_until_there_is_news_after_what_it_heard():
    news = StallNews()
    woken: list[int] = []
    news.on_news = lambda: woken.append(1)
    assert news.ready("")  # heard nothing yet: answered at once
    assert not news.ready("after=0")
    news.publish(item(1.0, True))
    assert news.ready("after=0") and not news.ready("after=1")
    news.publish(item(1.0, False))
    assert woken == [1, 1]
    got = answer(news, "after=0")
    # the stall once, in its newest state
    assert (got["seq"], got["complete"], got["stalls"]) == (2, True, [item(1.0, False)])
    assert answer(news, "after=1")["stalls"] == [item(1.0, False)]
    assert answer(news, "after=2") | {"pid": 0} == {
        "pid": 0,
        "seq": 2,
        "complete": True,
        "stalls": [],
    }


def test_news_missed_or_a_number_it_never_gave_is_said():
    news = StallNews()
    for started in range(MAX_NEWS):  # 2 news a stall: the first half is dropped
        news.publish(item(started, True))
        news.publish(item(started, False))
    assert answer(news, "")["complete"] is False
    assert answer(news, "after=10")["complete"] is False
    late = answer(news, f"after={MAX_NEWS * 2 - 3}")
    assert late["complete"] is True and [s["started_at_epoch"] for s in late["stalls"]] == [
        MAX_NEWS - 2,
        MAX_NEWS - 1,
    ]
    # a number beyond its own (another process on the port, restarted): all it keeps
    restarted = answer(news, "after=999999")
    assert restarted["complete"] is False and len(restarted["stalls"]) == MAX_NEWS // 2
    assert news.ready("after=999999")


def test_nonsense_after_values_are_answered_at_once_as_heard_nothing():
    news = StallNews()
    news.publish(item(1.0, True))
    for query in ("after=-1", "after=abc", "after=1&after=2", "after=" + "9" * 40, "x" * 5000):
        assert news.ready(query), query
        got = answer(news, query)
        assert got["complete"] is True and got["stalls"] == [item(1.0, True)], query
