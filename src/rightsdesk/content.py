"""Everything the bot reads at start, checked together.

`rightsdesk kb check` and `rightsdesk doctor` both call :func:`check_content`, so the two
can never disagree about whether the content is fit to start on.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from rightsdesk.emergency import Emergencies, check_emergencies
from rightsdesk.knowledge_base import KnowledgeBase, Problem, check_knowledge_base
from rightsdesk.messages import Messages, check_messages
from rightsdesk.referrals import Referrals, check_referrals
from rightsdesk.scope_model import ScopeModel, check_scope
from rightsdesk.sectors import Sectors, check_sectors

__all__ = ["Content", "check_content"]


@dataclass(frozen=True)
class Content:
    """The loaded content; each part is None when it had problems."""

    problems: list[Problem]
    kb: KnowledgeBase | None
    messages: Messages | None
    emergencies: Emergencies | None
    referrals: Referrals | None
    sectors: Sectors | None
    scope: ScopeModel | None = None  # optional: without it the matcher's words decide alone

    @property
    def ok(self) -> bool:
        return not self.problems and None not in (
            self.kb,
            self.messages,
            self.emergencies,
            self.referrals,
            self.sectors,
        )


def check_content(kb_dir: Path, messages_path: Path) -> Content:
    """The knowledge base, the bot's messages, and the emergency, referral and sector files
    and the scope model beside them, with every problem found (each names its file and
    line)."""
    problems, kb = check_knowledge_base(kb_dir)
    ids = [e.id for e in kb.entries] if kb else None
    message_problems, messages = check_messages(messages_path)
    problems += message_problems
    bot_dir = messages_path.parent
    emergency_problems, emergencies = check_emergencies(bot_dir / "emergency", ids)
    problems += emergency_problems
    referral_problems, referrals = check_referrals(bot_dir / "referrals.yaml")
    problems += referral_problems
    sector_problems, sectors = check_sectors(kb_dir, ids)
    problems += sector_problems
    scope_problems, scope = check_scope(bot_dir / "scope")
    problems += scope_problems
    return Content(problems, kb, messages, emergencies, referrals, sectors, scope)
