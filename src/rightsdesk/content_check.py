"""Every check `rightsdesk kb check` runs, over one knowledge base and one bot folder.

One function so that the command, the bundle builder and the update puller agree on what
"valid content" means: nothing ships, and nothing is installed, that the command would reject.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from rightsdesk.emergency import Emergencies, check_emergencies
from rightsdesk.knowledge_base import KnowledgeBase, Problem, check_knowledge_base
from rightsdesk.messages import Messages, check_messages
from rightsdesk.referrals import Referrals, check_referrals
from rightsdesk.sectors import Sectors, check_sectors


@dataclass(frozen=True)
class ContentCheck:
    """What the checks found: the problems, and each part loaded when it was usable."""

    problems: list[Problem]
    kb: KnowledgeBase | None
    messages: Messages | None
    emergencies: Emergencies | None
    referrals: Referrals | None
    sectors: Sectors | None

    @property
    def ok(self) -> bool:
        return not self.problems and None not in (
            self.kb,
            self.messages,
            self.emergencies,
            self.referrals,
            self.sectors,
        )


def check_content(kb_dir: Path, messages_path: Path) -> ContentCheck:
    """Check the knowledge base in ``kb_dir`` and the bot's words beside ``messages_path``."""
    problems, kb = check_knowledge_base(kb_dir)
    ids = [e.id for e in kb.entries] if kb else None
    message_problems, messages = check_messages(messages_path)
    bot_dir = messages_path.parent
    emergency_problems, emergencies = check_emergencies(bot_dir / "emergency", ids)
    referral_problems, referrals = check_referrals(bot_dir / "referrals.yaml")
    sector_problems, sectors = check_sectors(kb_dir, ids)
    return ContentCheck(
        problems + message_problems + emergency_problems + referral_problems + sector_problems,
        kb,
        messages,
        emergencies,
        referrals,
        sectors,
    )
