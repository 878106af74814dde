"""Which characters Label Studio's own labelling page highlights for bertner's offsets (bench/labelstudio_roundtrip.py
calls this with `--browser-python`): the check that the offsets are in the unit Label Studio's frontend reads.

Runs in bertner's venv (Playwright, the `dev` extra) with Debian's chromium. It logs into Label Studio, opens each
task in the labelling view and reads the text of every highlighted region (`.htx-highlight`); offsets read in
another unit (UTF-16 code units after an emoji) would highlight shifted characters.

    python bench/labelstudio_browser.py --url http://127.0.0.1:PORT --email E --password P --project 1 \
        --expected '{"12": ["Angela Merkel", "Paris"]}'

Prints a JSON object: per task, the highlighted texts and whether they equal the expected ones.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys

from playwright.sync_api import sync_playwright

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--url", required=True)
    p.add_argument("--email", required=True)
    p.add_argument("--password", required=True)
    p.add_argument("--project", type=int, required=True)
    p.add_argument("--expected", required=True, help='JSON: {"TASK_ID": ["region text", ...]}')
    p.add_argument("--chromium", default=shutil.which("chromium") or "/usr/bin/chromium")
    p.add_argument("--timeout-s", type=float, default=180.0)
    p.add_argument("--screenshot", help="where to save the page when a step fails")
    args = p.parse_args()
    expected: dict[str, list[str]] = json.loads(args.expected)
    found: dict[str, dict[str, object]] = {}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=args.chromium, args=CHROMIUM_ARGS)
        page = browser.new_page()
        page.set_default_timeout(args.timeout_s * 1000)
        try:
            page.goto(f"{args.url}/user/login/", wait_until="commit")
            page.fill("input[name=email]", args.email)
            page.fill("input[name=password]", args.password)
            page.click("button[type=submit]")
            page.wait_for_url(lambda url: "/user/login" not in url, wait_until="commit")
            for task, texts in expected.items():
                page.goto(f"{args.url}/projects/{args.project}/data?task={task}", wait_until="commit")
                page.wait_for_selector(".htx-highlight")
                shown = [text.strip() for text in page.locator(".htx-highlight").all_text_contents()]
                found[task] = {"highlighted": shown, "expected": texts, "equal": sorted(shown) == sorted(texts)}
        except Exception:
            if args.screenshot:
                page.screenshot(path=args.screenshot, full_page=True)
                print(f"page {page.url} saved to {args.screenshot}", file=sys.stderr)
            raise
        finally:
            browser.close()
    print(json.dumps(found, ensure_ascii=False))
    return 0 if all(task["equal"] for task in found.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
