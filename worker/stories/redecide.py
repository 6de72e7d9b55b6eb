"""An article's story decided again after its text changed (its page arrived), without splitting any story (pure).

The new text is looked up and verified as a new article's would be (:mod:`worker.stories.decide`), which gives a
:class:`~worker.stories.decide.StoryLink`. What that does to the article's current story:

    the new link                    the article now                         action
    ──────────────────────────────  ──────────────────────────────────────  ─────────────────────────────────────
    the same story                  any                                     keep (the link's scores are updated)
    no match ("new")                any                                     keep: a story is never split
    another story T                 alone in a story of its own             move it to T
    another story T                 first of a story others joined          merge: both stories become one, under
                                                                            the smaller (older) story id
    another story T                 a member of another article's story S   keep it in S, and say T was closer:
                                                                            moving it would split S

Every outcome carries the reason stored in ``article_links``; a merge also gives the moved articles theirs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from worker.stories.decide import StoryLink

__all__ = ["Membership", "Redecision", "redecide"]

Action = Literal["keep", "move", "merge"]


@dataclass(frozen=True, slots=True)
class Membership:
    """Where the article is now."""

    article_id: int
    story_id: int
    others: int  # other articles in its story


@dataclass(frozen=True, slots=True)
class Redecision:
    action: Action
    story_id: int  # the article's story afterwards
    reason: str  # for the article's own link
    merged_from: int | None = None  # merge: the story whose members move to ``story_id``
    merged_reason: str | None = None  # merge: appended to the moved articles' reasons


def redecide(now: Membership, link: StoryLink, why: str = "page text") -> Redecision:
    """What the new ``link`` does to the article's story (see the module's table); ``why`` names what changed."""
    aid, current = now.article_id, now.story_id
    if link.story_id == current:
        return Redecision("keep", current, f"{why}: {link.reason}")
    if link.method == "new":
        if now.others or current != aid:
            return Redecision("keep", current, f"{why} matches no other story ({link.reason}); stays in story "
                                               f"{current}: a story is never split")
        return Redecision("keep", current, f"{why}: {link.reason}")
    target = link.story_id
    if current == aid and not now.others:
        return Redecision("move", target, f"{why}: {link.reason}; moved from its own story {current}")
    if current == aid:
        into, gone = min(current, target), max(current, target)
        return Redecision(
            "merge", into,
            f"{why}: {link.reason}; stories {current} and {target} merged into {into}",
            merged_from=gone,
            merged_reason=(f"story {gone} merged into {into}: the page of article {aid} (the first of story "
                           f"{current}) matched story {target}"))
    return Redecision("keep", current, f"{why} is closer to story {target} ({link.reason}); kept in story "
                                       f"{current}: moving it would split that story")
