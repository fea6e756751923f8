"""``consentgate selftest URL``: drive a real Chromium through the site and report what a
regulator would check. Exit code 0 when clean, 1 on violations, 2 when the run cannot be done."""

from __future__ import annotations

import argparse
import re
import sys

from consentgate.selftest.records import PHASES, Phase, SelftestConfig

_REGION = re.compile(r"^[A-Z]{2}(?:-[A-Z0-9]{1,3})?$")
_HEADER = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")

_DESCRIPTION = """\
Crawls up to N same-origin pages in four phases, each in a fresh browser profile: before any
choice, after "Reject all", after "Accept all", and after withdrawing consent. Records every
request, cookie (and who set it), web storage key and Google Consent Mode call, classifies them
with the policy and the tracker catalog, and reports violations: non-necessary cookies or
tracker requests without consent, a reject control missing from the banner's first layer, a
Consent Mode default set after a Google tag, and more. Unclassified cookies and third-party
hosts are warnings. Needs Chromium (apt-get install chromium, or CONSENTGATE_CHROMIUM).
"""


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not 0 < value <= 600:
        raise argparse.ArgumentTypeError("must be between 0 and 600 seconds")
    return value


def _region(text: str) -> str:
    code = text.strip().upper()
    if not _REGION.match(code):
        raise argparse.ArgumentTypeError(f"{text!r} is not an ISO 3166 code such as FR or US-CA")
    return code


def _header(text: str) -> str:
    if not _HEADER.match(text):
        raise argparse.ArgumentTypeError(f"{text!r} is not an HTTP header name")
    return text


def _phases(text: str) -> tuple[Phase, ...]:
    wanted = {part.strip() for part in text.split(",") if part.strip()}
    unknown = wanted - set(PHASES)
    if unknown or not wanted:
        raise argparse.ArgumentTypeError(f"phases are a comma-separated subset of {','.join(PHASES)}")
    return tuple(phase for phase in PHASES if phase in wanted)


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "selftest",
        help="browser self-test of a site's consent (before, reject, accept, withdraw)",
        description=_DESCRIPTION,
    )
    parser.add_argument("url", help="start page, e.g. https://www.example.com/")
    parser.add_argument("--pages", type=_positive_int, default=10, help="pages per phase (default 10)")
    parser.add_argument("--region", type=_region, help="region code sent on every request, e.g. FR or US-CA")
    parser.add_argument(
        "--region-header",
        type=_header,
        default="CF-IPCountry",
        help="header carrying --region (default CF-IPCountry)",
    )
    parser.add_argument(
        "--gpc", action="store_true", help="send Sec-GPC: 1 and set navigator.globalPrivacyControl"
    )
    parser.add_argument(
        "--policy", metavar="FILE", help="consentgate.toml to judge by (default: the catalog)"
    )
    parser.add_argument("--json", dest="json_path", metavar="FILE", help="write all data as JSON")
    parser.add_argument("--html", dest="html_path", metavar="FILE", help="write a self-contained HTML report")
    parser.add_argument("--accept-selector", metavar="CSS", help="the site's accept-all control")
    parser.add_argument("--reject-selector", metavar="CSS", help="the site's reject-all control")
    parser.add_argument("--reopen-selector", metavar="CSS", help="the control that reopens the choices")
    parser.add_argument(
        "--timeout", type=_positive_float, default=15.0, help="page load timeout, seconds (default 15)"
    )
    parser.add_argument(
        "--phases",
        type=_phases,
        default=PHASES,
        help="comma-separated subset of before,reject,accept,withdraw",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from consentgate.policy.load import PolicyError, load_file
    from consentgate.selftest.controls import SelectorError
    from consentgate.selftest.crawler import SelftestError, check_url
    from consentgate.selftest.report import summary_text, write_html, write_json
    from consentgate.selftest.runner import run_selftest

    config = SelftestConfig(
        url=args.url,
        pages=args.pages,
        region=args.region,
        region_header=args.region_header,
        gpc=args.gpc,
        accept_selector=args.accept_selector,
        reject_selector=args.reject_selector,
        reopen_selector=args.reopen_selector,
        timeout=args.timeout,
        phases=args.phases,
    )
    try:
        check_url(config.url)
        policy = load_file(args.policy) if args.policy else None
        result = run_selftest(config, policy, policy_source=args.policy or "")
    except (PolicyError, SelftestError, SelectorError, OSError) as exc:
        print(f"consentgate selftest: {exc}", file=sys.stderr)
        return 2
    print(summary_text(result))
    try:
        if args.json_path:
            write_json(result, args.json_path)
            print(f"JSON written to {args.json_path}")
        if args.html_path:
            write_html(result, args.html_path)
            print(f"HTML report written to {args.html_path}")
    except OSError as exc:
        print(f"consentgate selftest: could not write the report: {exc}", file=sys.stderr)
        return 2
    return result.exit_code
