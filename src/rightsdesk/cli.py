"""The `rightsdesk` command. Thin: each subcommand calls one part of the package."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from rightsdesk import __version__
from rightsdesk.anonymise import SecretError
from rightsdesk.backups import DEFAULT_KEEP
from rightsdesk.config import ConfigError, Settings
from rightsdesk.factsheet import FactSheetError
from rightsdesk.knowledge_base import (
    KnowledgeBase,
    KnowledgeBaseError,
    load_knowledge_base,
    review_warnings,
)
from rightsdesk.localized import LANGUAGES
from rightsdesk.query_log import QueryLogError

if TYPE_CHECKING:
    from rightsdesk.admin_reports import GapReport
    from rightsdesk.desk import AnyQueryLog, Desk
    from rightsdesk.scope_model import ScopeModel


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "handler"):
        parser.print_help()
        return 2
    try:
        settings = Settings.from_env()
        return int(args.handler(args, settings) or 0)
    except (ConfigError, KnowledgeBaseError, QueryLogError, FactSheetError, SecretError) as error:
        print(f"rightsdesk: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # `rightsdesk eval ... | head`: the reader has seen enough; no traceback.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rightsdesk",
        description="Answers on the International Guidelines on Human Rights and Drug Policy.",
    )
    parser.add_argument("--version", action="version", version=f"rightsdesk {__version__}")
    sub = parser.add_subparsers(title="commands", metavar="COMMAND")

    kb = sub.add_parser("kb", help="check, list or ship the knowledge base")
    kb_sub = kb.add_subparsers(title="kb commands", metavar="KB_COMMAND")
    check = kb_sub.add_parser("check", help="validate the knowledge base and the bot's messages")
    _kb_option(check)
    check.add_argument(
        "--messages", type=Path, help="bot messages file (default bot/messages.yaml)"
    )
    check.set_defaults(handler=_kb_check)
    translations = kb_sub.add_parser(
        "translations", help="coverage and review status of every language"
    )
    _kb_option(translations)
    translations.add_argument("--json", action="store_true", help="print JSON")
    translations.set_defaults(handler=_kb_translations)
    readable = kb_sub.add_parser(
        "readability", help="sentence length and first-screen fit of every answer"
    )
    _kb_option(readable)
    readable.add_argument("--lang", choices=LANGUAGES, action="append", help="only these")
    readable.add_argument("--entries", action="store_true", help="one line per entry")
    readable.set_defaults(handler=_kb_readability)

    apply = kb_sub.add_parser(
        "apply", help="add the accepted phrasings of a `logs gaps --suggest` file, then check"
    )
    apply.add_argument("file", type=Path, metavar="FILE")
    _kb_option(apply)
    apply.set_defaults(handler=_kb_apply)

    listing = kb_sub.add_parser("list", help="list the entries")
    _kb_option(listing)
    listing.add_argument("--json", action="store_true", help="print JSON")
    listing.set_defaults(handler=_kb_list)

    keygen = kb_sub.add_parser("keygen", help="make the key pair that signs update bundles")
    keygen.add_argument("--out", type=Path, required=True, metavar="DIR", help="folder for keys")
    keygen.set_defaults(handler=_kb_keygen)
    bundle = kb_sub.add_parser("bundle", help="build a signed update bundle of the content")
    bundle.add_argument("--key", type=Path, required=True, metavar="PRIVATE", help="signing key")
    bundle.add_argument("-o", "--output", type=Path, required=True, metavar="FILE")
    _kb_option(bundle)
    bundle.set_defaults(handler=_kb_bundle)
    pull = kb_sub.add_parser(
        "pull", help="fetch, verify and unpack the bundle at RIGHTSDESK_KB_URL"
    )
    pull.add_argument(
        "--force", action="store_true", help="accept a bundle older than the installed one"
    )
    pull.set_defaults(handler=_kb_pull)

    ask = sub.add_parser("ask", help="answer one question as the bot would")
    ask.add_argument("question")
    ask.add_argument("--lang", choices=LANGUAGES, help="answer in this language")
    ask.add_argument("--json", action="store_true", help="print the decision and matches")
    _kb_option(ask)
    ask.set_defaults(handler=_ask)

    ev = sub.add_parser("eval", help="measure matching quality on evaluation files")
    ev.add_argument("files", type=Path, nargs="+", metavar="FILE")
    ev.add_argument("--json", action="store_true")
    ev.add_argument("--no-baseline", action="store_true", help="skip the BM25 comparison")
    ev.add_argument("--misses", action="store_true", help="list the questions it got wrong")
    ev.add_argument(
        "--no-scope-model",
        action="store_true",
        help="match as if there were no scope model (bot/scope/model.tsv), to compare",
    )
    _kb_option(ev)
    ev.set_defaults(handler=_eval)

    bench = sub.add_parser("bench", help="time the matcher (today and at 10x the size)")
    bench.add_argument("--json", action="store_true")
    bench.add_argument(
        "--questions",
        type=Path,
        nargs="+",
        default=[
            Path("tests/eval/questions.yaml"),
            *sorted(Path("tests/eval/lang").glob("*-dev.yaml")),
        ],
        help="question files to time (default: the development sets of every language)",
    )
    _kb_option(bench)
    bench.set_defaults(handler=_bench)

    sheet = sub.add_parser("factsheet", help="make printable one-page fact sheets (PDF or HTML)")
    sheet.add_argument(
        "target", nargs="?", help="an item (II.7 or its id), a topic, an example or a sector"
    )
    sheet.add_argument("--lang", choices=LANGUAGES, default="en", help="language (default en)")
    sheet.add_argument("--format", choices=("pdf", "html"), default="pdf")
    sheet.add_argument("-o", "--output", type=Path, help="file to write (default: TARGET.LANG.pdf)")
    sheet.add_argument("--all", action="store_true", help="every sheet in every language")
    sheet.add_argument("--out", type=Path, default=Path("factsheets"), help="folder for --all")
    sheet.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="processes for --all")
    _kb_option(sheet)
    sheet.set_defaults(handler=_factsheet)

    chat = sub.add_parser("chat", help="talk to the bot in this terminal (no token needed)")
    chat.add_argument("--lang", choices=LANGUAGES, help="start in this language")
    chat.add_argument(
        "--log",
        action=argparse.BooleanOptionalAction,
        help="log questions like the Telegram bot (default: no log)",
    )
    _kb_option(chat)
    chat.set_defaults(handler=_chat)

    run = sub.add_parser("run", help="run the Telegram bot (console chat when no token is set)")
    run.add_argument("--webhook", action="store_true", help="receive updates by webhook")
    run.add_argument("--listen", default="127.0.0.1", help="webhook listen address")
    run.add_argument("--port", type=int, default=8443, help="webhook port")
    run.add_argument("--path", default="telegram", help="webhook URL path")
    run.add_argument("--url", help="public webhook URL (https://host/path)")
    run.add_argument(
        "--secret-token",
        help="webhook secret (default: RIGHTSDESK_WEBHOOK_SECRET or a random one)",
    )
    run.add_argument("--no-log", action="store_true", help="run without a query log, on purpose")
    run.add_argument("--console-if-no-token", action="store_true", help=argparse.SUPPRESS)
    run.set_defaults(handler=_run)

    doctor = sub.add_parser("doctor", help="check that this installation is fit to run")
    doctor.set_defaults(handler=_doctor)

    logs = sub.add_parser("logs", help="admin reports on the anonymised query log")
    logs_sub = logs.add_subparsers(title="logs commands", metavar="LOGS_COMMAND")
    stats = logs_sub.add_parser("stats", help="queries by decision, language and entry")
    stats.add_argument("--since", default="30d", help="period such as 7d, 30d, 12w (or 'all')")
    stats.add_argument("--json", action="store_true")
    stats.set_defaults(handler=_logs_stats)
    gaps = logs_sub.add_parser("gaps", help="unanswered and unhelpful questions, grouped")
    gaps.add_argument("--since", default="all")
    gaps.add_argument("--json", action="store_true")
    gaps.add_argument(
        "--suggest",
        type=Path,
        metavar="FILE",
        help="write new phrasings for the closest entries to FILE (YAML), for an editor",
    )
    _kb_option(gaps)
    gaps.set_defaults(handler=_logs_gaps)
    export = logs_sub.add_parser("export", help="export aggregates (or redacted rows)")
    export.add_argument("--format", choices=("csv", "json"), default="csv")
    export.add_argument("--rows", action="store_true", help="redacted rows, not aggregates")
    export.add_argument("--since", default="all")
    export.set_defaults(handler=_logs_export)
    purge = logs_sub.add_parser("purge", help="delete rows older than the retention period")
    purge.set_defaults(handler=_logs_purge)
    backup = logs_sub.add_parser(
        "backup", help="copy the query log into DIR while the bot runs (never the keys)"
    )
    backup.add_argument("dir", type=Path, metavar="DIR")
    backup.add_argument(
        "--keep", type=int, default=DEFAULT_KEEP, help=f"newest kept (default {DEFAULT_KEEP})"
    )
    backup.set_defaults(handler=_logs_backup)
    return parser


def _kb_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--kb", type=Path, help="knowledge base folder (default knowledge_base/)")


def _kb(args: argparse.Namespace, settings: Settings) -> KnowledgeBase:
    return load_knowledge_base(args.kb or settings.kb_dir)


def _scope(settings: Settings) -> ScopeModel | None:
    """The scope model beside the bot's messages, as the bot reads it (None if there is
    none); a broken file stops the command with its problem."""
    from rightsdesk.scope_model import check_scope

    problems, model = check_scope(settings.messages_path.parent / "scope")
    if problems:
        raise KnowledgeBaseError(problems)
    return model


# -- factsheet ----------------------------------------------------------------------------


def _factsheet(args: argparse.Namespace, settings: Settings) -> int:
    from rightsdesk.factsheet import build_all, fact_sheets

    sheets = fact_sheets(args.kb or settings.kb_dir, settings.messages_path)
    if args.all:
        args.out.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        built = build_all(sheets, args.out, args.format, jobs=args.jobs)
        seconds = time.perf_counter() - started
        print(f"{len(built)} sheets in {args.out}/ ({seconds:.0f} s), each one page")
        return 0
    if not args.target:
        print(
            "rightsdesk factsheet: give an item, topic, example or sector, or --all",
            file=sys.stderr,
        )
        return 2
    target = sheets.resolve(args.target)
    if target is None:
        known = ", ".join(s.removeprefix("sector-") for s in sheets.targets() if "sector-" in s)
        print(
            f"rightsdesk factsheet: no item, topic, example or sector '{args.target}' "
            f"(sectors: {known}; `rightsdesk kb list` lists the rest)",
            file=sys.stderr,
        )
        return 2
    path = args.output or Path(f"{target}.{args.lang}.{args.format}")
    sheets.write(target, args.lang, path, args.format)
    print(path)
    return 0


# -- kb -----------------------------------------------------------------------------------


def _kb_check(args: argparse.Namespace, settings: Settings) -> int:
    from rightsdesk.content import check_content

    content = check_content(args.kb or settings.kb_dir, args.messages or settings.messages_path)
    for problem in content.problems:
        print(problem)
    kb, messages, emergencies = content.kb, content.messages, content.emergencies
    referrals, sectors = content.referrals, content.sectors
    if (
        content.problems
        or kb is None
        or messages is None
        or emergencies is None
        or referrals is None
        or sectors is None
    ):
        print(f"{len(content.problems)} problem(s) found.", file=sys.stderr)
        return 1
    kinds = {kind: len(kb.of_kind(kind)) for kind in ("principle", "provision", "topic", "example")}
    questions = sum(len(q) for e in kb.entries for q in e.questions.values.values())
    languages = sorted({lang for e in kb.entries for lang in e.languages})
    asked_in = sorted({lang for e in kb.entries for lang in e.questions.languages})
    print(
        f"OK: {len(kb)} entries ({', '.join(f'{n} {k}s' for k, n in kinds.items())}), "
        f"{questions} questions (in {', '.join(asked_in)}), {len(kb.synonyms)} synonyms, "
        f"answers in {', '.join(languages)}, "
        f"messages in {', '.join(messages.languages)}; "
        f"emergency cards in {', '.join(emergencies.languages)}; "
        f"referrals for {', '.join(sorted(referrals.countries))}; "
        f"{len(sectors)} sector views; version {kb.version}"
    )
    _print_readability(kb)
    overdue = review_warnings(kb, date.today())
    for warning in overdue:
        print(warning)
    print(f"Overdue for review (last reviewed more than 12 months ago): {len(overdue)} entries")
    return 0


def _kb_apply(args: argparse.Namespace, settings: Settings) -> int:
    from rightsdesk import curator

    root = args.kb or settings.kb_dir
    applied = curator.apply(args.file, root)
    for line in (*applied.skipped, *applied.stubs):
        print(line)
    print(applied.summary())
    print()
    status = _kb_check(argparse.Namespace(kb=root, messages=None), settings)
    if status:
        changed = ", ".join(str(p) for p in applied.files) or "none"
        print(
            f"kb check failed after applying. Files changed: {changed}; `git diff` shows how.",
            file=sys.stderr,
        )
    return status


def _print_readability(kb: KnowledgeBase) -> None:
    """Not a problem that stops the bot, but what editors should see: long sentences and
    long summaries, per entry (``kb readability --entries`` adds the first-screen check)."""
    from rightsdesk import readability

    english = readability.report(kb, "en")
    average = readability.summary_sentence_length(kb, "en")
    shortest = min(r.summary_chars for r in english)
    longest = max(r.summary_chars for r in english)
    print(
        f"Readability (en): {average:.1f} words a summary sentence on average "
        f"(target {readability.WORDS_A_SENTENCE}); summaries {shortest}-{longest} characters"
    )
    for row in english:
        long_sentences = row.per_sentence > readability.WORDS_A_SENTENCE + 3
        if long_sentences or row.summary_chars > readability.SUMMARY_CHARS:
            print(
                f"  {row.entry_id}: {row.per_sentence:.1f} words a sentence, "
                f"summary {row.summary_chars} characters"
            )


def _kb_readability(args: argparse.Namespace, settings: Settings) -> int:
    from statistics import mean

    from rightsdesk import readability
    from rightsdesk.conversation import Conversation
    from rightsdesk.messages import load_messages

    kb = _kb(args, settings)
    conversation = Conversation(
        kb, load_messages(settings.messages_path), retention_days=0, k_anonymity=1
    )
    print(
        f"{'lang':5} {'entries':>7} {'summary sentence':>16} {'summary':>8} "
        f"{'first step on first screen':>27}"
    )
    for lang in args.lang or LANGUAGES:
        rows = readability.report(kb, lang)
        fits = [
            readability.fits_first_screen(conversation, e, lang)
            for e in kb.entries
            if e.summary.has(lang)
        ]
        unit = "chars" if lang in readability.SPACELESS else "words"
        print(
            f"{lang:5} {len(rows):7} "
            f"{readability.summary_sentence_length(kb, lang):10.1f} {unit:5} "
            f"{mean(r.summary_chars for r in rows):6.0f} ch "
            f"{sum(fits):10} of {len(fits)} ({sum(fits) / len(fits):.0%})"
        )
        if args.entries:
            for row, fit in zip(rows, fits, strict=True):
                print(
                    f"    {row.entry_id:48} {row.per_sentence:5.1f} {row.unit[:5]}/sentence "
                    f"summary {row.summary_chars:3} ch  {'fits' if fit else 'SCROLLS'}"
                )
    return 0


def _kb_translations(args: argparse.Namespace, settings: Settings) -> int:
    from dataclasses import asdict

    from rightsdesk.knowledge_base import coverage
    from rightsdesk.languages import NATIVE_NAMES
    from rightsdesk.messages import load_messages

    kb = _kb(args, settings)
    messages = load_messages(settings.messages_path)
    rows = coverage(kb)
    if args.json:
        print(json.dumps([asdict(r) for r in rows], ensure_ascii=False, indent=2))
        return 0
    print(f"{'language':<22}{'entries':>9}{'questions':>11}{'declines':>10}  review status")
    for r in rows:
        status = ", ".join(f"{n} {s}" for s, n in sorted(r.statuses.items())) or "-"
        words = messages.translation(r.lang)
        if words is not None:
            status += f"; bot's words {words.status} ({words.by}, {words.date})"
        name = f"{r.lang} {NATIVE_NAMES[r.lang]}"
        print(
            f"{name:<22}{r.entries:>4}/{r.total:<4}{r.questions:>11}"
            f"{r.declines:>6}/{r.total_declines:<3}  {status}"
        )
    unreviewed = [r.lang for r in rows if set(r.statuses) - {"source", "reviewed"}]
    if unreviewed:
        print(
            f"\nNot yet reviewed by a person: {', '.join(unreviewed)}. Every answer in these"
            " languages says so and offers the English original."
        )
    return 0


def _kb_list(args: argparse.Namespace, settings: Settings) -> int:
    kb = _kb(args, settings)
    rows = [
        {
            "id": e.id,
            "kind": e.kind,
            "ref": e.ref,
            "title": e.title.get("en"),
            "languages": list(e.languages),
            "questions": len(e.questions.get("en")),
            "review": e.review.status,
        }
        for e in kb.entries
    ]
    if args.json:
        print(json.dumps(rows, ensure_ascii=False, indent=2))
        return 0
    for row in rows:
        ref = row["ref"] or "-"
        print(f"{ref:<8} {row['kind']:<10} {row['id']:<44} {row['questions']:>3}q  {row['title']}")
    print(f"{len(rows)} entries")
    return 0


def _kb_keygen(args: argparse.Namespace, settings: Settings) -> int:
    from rightsdesk.kb_bundle import BundleError, generate_keys

    try:
        private, public = generate_keys(args.out)
    except BundleError as error:
        print(f"rightsdesk: {error}", file=sys.stderr)
        return 1
    print(f"Private key: {private} (mode 600; keep it off the bots' servers)")
    print(f"Public key:  {public}; each bot sets RIGHTSDESK_KB_PUBLIC_KEY to this line:")
    print(public.read_text(encoding="ascii").strip())
    return 0


def _kb_bundle(args: argparse.Namespace, settings: Settings) -> int:
    from rightsdesk.kb_bundle import BundleError, InvalidContent, build_bundle, load_private_key

    try:
        key = load_private_key(args.key)
        manifest = build_bundle(
            args.kb or settings.kb_dir, settings.messages_path, key, args.output
        )
    except InvalidContent as error:
        for problem in error.problems:
            print(problem)
        print(f"rightsdesk: {args.output}: {error}", file=sys.stderr)
        return 1
    except BundleError as error:
        print(f"rightsdesk: {error}", file=sys.stderr)
        return 1
    size = sum(f.size for f in manifest.files)
    print(
        f"{args.output}: bundle {manifest.name}, {len(manifest.files)} files ({size} bytes,"
        f" {args.output.stat().st_size} compressed), signed with key {manifest.key}"
    )
    return 0


def _kb_pull(args: argparse.Namespace, settings: Settings) -> int:
    import asyncio

    from rightsdesk.kb_bundle import bundle_manifest
    from rightsdesk.kb_updates import KbUpdater

    def unpacked(folder: Path) -> str:
        # No bot runs in this process: unpacked and checked is as far as it goes.
        manifest = bundle_manifest(folder)
        return manifest.content_version if manifest else folder.name

    def report(sentence: str) -> None:
        print(f"rightsdesk: {sentence}", file=sys.stderr)

    updater = KbUpdater(settings, install=unpacked, report=report, force=args.force)
    result = asyncio.run(updater.check_once())
    if not result.failed:
        print(result.message)
    if result.folder is not None:
        print(f"Unpacked to {result.folder}; a running bot takes it up with /reload.")
    return 1 if result.failed else 0


# -- matching -----------------------------------------------------------------------------


def _desk(
    args: argparse.Namespace, settings: Settings, query_log: AnyQueryLog | None = None
) -> Desk:
    from rightsdesk.desk import Desk

    if getattr(args, "kb", None):
        settings = replace(settings, kb_dir=args.kb)
    return Desk.load(settings, query_log)


def _ask(args: argparse.Namespace, settings: Settings) -> int:
    from rightsdesk.console import button_labels, console_asker, render_text

    desk = _desk(args, settings)
    asker = console_asker()
    if args.lang:
        desk.choose_language(asker, args.lang)
    result, reply = desk.answer(args.question, asker)
    text = render_text(reply)
    if args.json:
        document = {
            "decision": result.decision.value,
            "lang": reply.lang,
            "encoding": reply.encoding if reply.lang == "my" else None,
            "matches": [
                {
                    "id": m.entry.id,
                    "ref": m.entry.ref,
                    "kind": m.entry.kind,
                    "title": m.entry.title.get("en"),
                    "score": m.score,
                }
                for m in result.matches
            ],
            "declined": result.declined.id if result.declined else None,
            # The scope model's probability that the question is out of scope, when asked.
            "out_of_scope": result.out_of_scope,
            "emergency": reply.emergency,
            "text": text,
        }
        print(json.dumps(document, ensure_ascii=False, indent=2))
        return 0
    print(text)
    labels = button_labels(reply)
    if labels:
        print("\nButtons: " + " | ".join(labels))
    return 0


def _eval(args: argparse.Namespace, settings: Settings) -> int:
    from rightsdesk.evaluation import (
        EvalFileError,
        Metrics,
        bm25_ranker,
        evaluate,
        is_emergency_file,
        load_questions,
        matcher_ranker,
        misses,
        ranking_only,
        reply_language_share,
        summarise,
    )
    from rightsdesk.matching import Matcher

    emergency_files = [p for p in args.files if is_emergency_file(p)]
    args.files = [p for p in args.files if p not in emergency_files]
    if emergency_files:
        status = _eval_emergencies(emergency_files, settings, as_json=args.json, show=args.misses)
        if status or not args.files:
            return status
        print()
    kb = _kb(args, settings)
    try:
        questions = [q for path in args.files for q in load_questions(path)]
    except EvalFileError as error:
        print(f"rightsdesk: {error}", file=sys.stderr)
        return 1
    matcher = Matcher(kb, scope=None if args.no_scope_model else _scope(settings))
    outcomes = evaluate(questions, matcher_ranker(matcher))
    report = summarise(outcomes)
    baseline = None
    if not args.no_baseline:
        try:
            baseline = summarise(evaluate(questions, bm25_ranker(kb)))
        except ImportError:
            print("(BM25 baseline skipped: install the eval extra for bm25s)", file=sys.stderr)
    languages = reply_language_share(questions, matcher)
    if args.json:
        document = report.to_dict()
        document["reply_in_question_language"] = languages
        if baseline is not None:
            document["bm25_baseline"] = baseline.to_dict()
        print(json.dumps(document, indent=2))
        return 0

    def cells(m: Metrics) -> str:
        return (
            f"{m.top1:>6.3f}{m.top3:>6.3f}{m.mrr:>6.3f}"
            f"{m.oos_rejected:>6.3f}{m.wrong_answer_rate:>7.3f}"
        )

    head = f"{'top1':>6}{'top3':>6}{'mrr':>6}{'oos':>6}{'wrong':>7}"
    print(f"{'':<9}{'n':>5}{'oos':>5} | rightsdesk{head}  reply lang | bm25{head}")
    rows = [("all", report.overall, baseline.overall if baseline else None)]
    rows += [
        (lang, m, baseline.by_lang.get(lang) if baseline else None)
        for lang, m in report.by_lang.items()
    ]
    for name, ours, theirs in rows:
        share = languages.get(name) if name != "all" else None
        lang_cell = f"{share:>10.3f}" if share is not None else f"{'':>10}"
        line = f"{name:<9}{ours.n:>5}{ours.oos_n:>5} |           {cells(ours)}  {lang_cell} |"
        print(line + (f"     {cells(theirs)}" if theirs else ""))
    print(
        "oos: share of out-of-scope questions declined; wrong: share of in-scope questions"
        " answered with a wrong entry; reply lang: share answered in the question's language"
    )
    if baseline is not None:
        in_scope = [q for q in questions if q.expect]
        ours_ranked = summarise(evaluate(in_scope, ranking_only(matcher_ranker(matcher))))
        bm25_ranked = summarise(evaluate(in_scope, ranking_only(bm25_ranker(kb))))
        print("\nranking alone (every decision counted as an answer, in-scope questions):")
        for name, r in (("rightsdesk", ours_ranked), ("bm25 baseline", bm25_ranked)):
            m = r.overall
            print(f"  {name:<18} top1 {m.top1:.4f}  top3 {m.top3:.4f}  mrr {m.mrr:.4f}")
    if args.misses:
        missed = misses(outcomes)
        print(f"\n{len(missed)} misses:")
        for o in missed:
            got = ", ".join(f"{i}" for i, _ in o.ranked[:3]) or "-"
            want = ", ".join(sorted(o.question.expect)) or "(out of scope)"
            print(
                f"  line {o.question.line}: [{o.decision}] {o.question.q!r}\n"
                f"      got {got}; want {want}"
            )
    return 0


def _eval_emergencies(files: list[Path], settings: Settings, *, as_json: bool, show: bool) -> int:
    from dataclasses import asdict

    from rightsdesk.emergency import load_emergencies
    from rightsdesk.evaluation import (
        EvalFileError,
        evaluate_emergencies,
        load_emergency_questions,
        summarise_emergencies,
    )

    try:
        questions = [q for path in files for q in load_emergency_questions(path)]
    except EvalFileError as error:
        print(f"rightsdesk: {error}", file=sys.stderr)
        return 1
    emergencies = load_emergencies(settings.emergency_dir)

    def detect(text: str) -> str | None:
        found = emergencies.detect(text)
        return found.kind if found else None

    outcomes = evaluate_emergencies(questions, detect)
    overall, by_lang = summarise_emergencies(outcomes)
    if as_json:
        document = {
            "overall": asdict(overall),
            "by_lang": {k: asdict(v) for k, v in by_lang.items()},
        }
        print(json.dumps({"emergency": document}, indent=2))
        return 0
    print("emergency cards (target: recall >= 0.95, false cards <= 0.05)")
    print(f"{'':<9}{'urgent':>7}{'recall':>8}{'kind':>7}{'alikes':>8}{'false':>7}")
    for name, m in (("all", overall), *by_lang.items()):
        print(
            f"{name:<9}{m.urgent:>7}{m.recall:>8.3f}{m.right_kind:>7.3f}"
            f"{m.lookalikes:>8}{m.false_cards:>7.3f}"
        )
    print(
        "recall: urgent messages given a card; kind: of those, the right card;"
        " false: look-alikes given a card"
    )
    if show:
        for q, got in outcomes:
            if bool(q.emergency) != bool(got) or (got and q.emergency != got):
                print(f"  line {q.line} [{q.lang}] want {q.emergency}, got {got}: {q.q!r}")
    return 0


def _bench(args: argparse.Namespace, settings: Settings) -> int:
    from rightsdesk.benchmark import run
    from rightsdesk.evaluation import load_questions

    kb = _kb(args, settings)
    questions = [q.q for path in args.questions for q in load_questions(path)]
    started = time.perf_counter()
    scope = _scope(settings)
    scope_s = time.perf_counter() - started
    report = run(kb, questions, scope=scope)
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    for name in ("today", "tenfold"):
        r = report[name]
        print(
            f"{name:<8} entries={r['entries']:<5} build={r['build_s']:.3f}s "
            f"p50={r['p50_ms']:.2f}ms p99={r['p99_ms']:.2f}ms max={r['max_ms']:.2f}ms "
            f"qps={r['qps']:.0f} ({r['queries']} queries, one core)"
        )
    if scope is not None:
        print(f"scope model read in {scope_s:.3f}s; every question above was checked by it")
    print(
        f"peak RSS {report['peak_rss_mb']} MB with today's base loaded"
        f" ({report['peak_rss_mb_with_tenfold']} MB once the ten-fold copy is built too)"
    )
    met = report["met"]
    print("targets: " + ", ".join(f"{k} {'met' if v else 'MISSED'}" for k, v in met.items()))
    return 0


# -- conversation -------------------------------------------------------------------------


def _chat(args: argparse.Namespace, settings: Settings) -> int:
    from rightsdesk.console import ConsoleChat
    from rightsdesk.desk import open_query_log

    if args.log is False:  # said --no-log, rather than left it out
        print("No query log (--no-log): no question is recorded.", file=sys.stderr)
    desk = _desk(args, settings, open_query_log(settings) if args.log else None)
    chat = ConsoleChat(desk, stdin=sys.stdin, stdout=sys.stdout)
    if args.lang:
        desk.choose_language(chat.asker, args.lang)
    try:
        chat.run()
    finally:
        desk.close()
    return 0


def _run(args: argparse.Namespace, settings: Settings) -> int:
    if settings.token is None:
        if args.console_if_no_token:
            print("No TELEGRAM_BOT_TOKEN set: starting the console chat instead.\n")
            args.kb = None
            args.lang = None
            args.log = None  # no log, and no "--no-log" notice: nobody asked for one
            return _chat(args, settings)
        print(
            "rightsdesk: no Telegram token. Set TELEGRAM_BOT_TOKEN (or TELEGRAM_BOT_TOKEN_FILE);"
            " `rightsdesk chat` talks to the bot without one.",
            file=sys.stderr,
        )
        return 1
    from rightsdesk.telegram_bot import WebhookOptions, run_bot

    webhook = None
    if args.webhook:
        webhook = WebhookOptions.from_args(
            listen=args.listen,
            port=args.port,
            path=args.path,
            url=args.url,
            secret_token=args.secret_token,
            env_secret=settings.webhook_secret,
        )
    return run_bot(settings, webhook=webhook, log_queries=not args.no_log)


def _doctor(args: argparse.Namespace, settings: Settings) -> int:
    from rightsdesk.doctor import Status, diagnose

    results = diagnose(settings)
    for result in results:
        print(result)
    counts = {s: sum(r.status is s for r in results) for s in Status}
    print(
        f"{len(results)} checks: {counts[Status.OK]} ok, {counts[Status.WARN]} warning(s),"
        f" {counts[Status.FAIL]} failed."
    )
    return 1 if counts[Status.FAIL] else 0


# -- logs ---------------------------------------------------------------------------------


def _logs_stats(args: argparse.Namespace, settings: Settings) -> int:
    from rightsdesk import admin_reports

    report = admin_reports.stats(
        settings.db_path, since=_period(args.since), k=settings.k_anonymity
    )
    if args.json:
        print(json.dumps(report.to_dict(), indent=2, ensure_ascii=False))
    else:
        print(admin_reports.format_stats(report))
    return 0


def _logs_gaps(args: argparse.Namespace, settings: Settings) -> int:
    from rightsdesk import admin_reports

    report = admin_reports.gaps(settings.db_path, since=_period(args.since), k=settings.k_anonymity)
    if args.suggest:
        return _suggest(args, settings, report)
    if args.json:
        print(json.dumps(report.to_dict(), indent=2, ensure_ascii=False))
    else:
        print(admin_reports.format_gaps(report))
    return 0


def _suggest(args: argparse.Namespace, settings: Settings, report: GapReport) -> int:
    from rightsdesk import curator
    from rightsdesk.matching import Matcher

    matcher = Matcher(_kb(args, settings), scope=_scope(settings))
    suggestions = curator.suggest(report, matcher)
    args.suggest.write_text(
        curator.format_suggestions(
            suggestions,
            report,
            k=settings.k_anonymity,
            answer=matcher.thresholds.answer,
            file=str(args.suggest),
        ),
        encoding="utf-8",
    )
    stubs = sum(s.stub for s in suggestions)
    print(
        f"{len(suggestions) - stubs} suggestion(s) for existing entries and {stubs} stub(s)"
        f" written to {args.suggest}. Review it, then run `rightsdesk kb apply {args.suggest}`."
    )
    return 0


def _logs_export(args: argparse.Namespace, settings: Settings) -> int:
    from rightsdesk import admin_reports

    sys.stdout.write(
        admin_reports.export(
            settings.db_path,
            fmt=args.format,
            rows=args.rows,
            k=settings.k_anonymity,
            since=_period(args.since),
        )
    )
    return 0


def _logs_purge(args: argparse.Namespace, settings: Settings) -> int:
    from rightsdesk.query_log import purge

    deleted = purge(settings.db_path, settings.retention_days)
    print(f"Deleted {deleted} queries older than {settings.retention_days} days.")
    return 0


def _logs_backup(args: argparse.Namespace, settings: Settings) -> int:
    from rightsdesk.backups import BackupError, backup

    try:
        made = backup(
            settings.db_path,
            args.dir,
            keep=args.keep,
            key_files=(settings.secret_path, settings.week_key_path),
        )
    except BackupError as error:
        print(f"rightsdesk: {error}", file=sys.stderr)
        return 1
    deleted = f"; deleted {len(made.deleted)} older backup(s)" if made.deleted else ""
    print(f"{made.path}: {made.rows} queries, copied in {made.seconds:.2f} s{deleted}.")
    return 0


def _period(text: str) -> timedelta | None:
    if text in ("all", ""):
        return None
    units = {"d": 1, "w": 7}
    number, unit = text[:-1], text[-1:]
    if unit not in units or not number.isdigit():
        raise ConfigError(f"--since takes a period such as 7d, 30d or 12w, not '{text}'.")
    return timedelta(days=int(number) * units[unit])


if __name__ == "__main__":
    raise SystemExit(main())
