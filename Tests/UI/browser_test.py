"""The operator page in a real browser (headless Chromium through Selenium), against a running gateway.

Run by OperatorPageBrowserTests with the gateway's base URL, two tenants' API keys and a folder for
screenshots. It signs in, submits batches on the three vendors through the API, watches their rows
reach 100 % live without a reload, opens a job page, cancels a document-tagging job from the page,
checks that a hostile document title renders as text, checks tenant isolation and CSRF, and saves
screenshots. Exits non-zero, naming the failed check, on the first failure.
"""

import argparse
import json
import sys
import time
import urllib.error
import urllib.request

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

HOSTILE = '<img src=x onerror="window.__xss=1"><script>window.__xss=2</script>& "quotes"'


def fail(message):
    print("FAILED: " + message, flush=True)
    sys.exit(1)


def check(condition, message):
    if not condition:
        fail(message)
    print("ok: " + message, flush=True)


def api(base, key, method, path, body=None):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(base + path, data=data, method=method)
    request.add_header("Authorization", "Bearer " + key)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def wait_for(description, predicate, timeout=60.0, interval=0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    fail("timed out after %.0f s waiting for %s" % (timeout, description))


def text_of(driver, selector):
    """The text of the first element matching `selector`, or "" (also while a new page is loading)."""
    try:
        found = driver.find_elements(By.CSS_SELECTOR, selector)
        return found[0].text if found else ""
    except Exception:
        return ""


def row_state(driver, job_id):
    rows = driver.find_elements(By.CSS_SELECTOR, 'tr[data-id="%s"]' % job_id)
    if not rows:
        return None
    return (rows[0].find_element(By.CSS_SELECTOR, "[data-field=lifecycle]").text, rows[0].find_element(By.CSS_SELECTOR, ".pct").text)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--base", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--other-key", required=True)
    parser.add_argument("--screenshots", required=True)
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    parser.add_argument("--chromedriver", default="/usr/bin/chromedriver")
    args = parser.parse_args()
    base = args.base

    options = webdriver.ChromeOptions()
    for argument in ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,800", "--lang=en-US"]:
        options.add_argument(argument)
    options.binary_location = args.chromium
    driver = webdriver.Chrome(service=Service(args.chromedriver), options=options)
    driver.set_page_load_timeout(30)
    try:
        run(driver, base, args)
    finally:
        driver.quit()


def run(driver, base, args):
    shots = args.screenshots.rstrip("/")

    # Signed out, every page leads to the sign-in form; a wrong key is refused; the key never is in a URL.
    driver.get(base + "/ui")
    check(driver.current_url.endswith("/ui/sign-in"), "signed out, /ui redirects to the sign-in form")
    driver.find_element(By.ID, "api_key").send_keys("not-a-key")
    driver.find_element(By.CSS_SELECTOR, "main form button[type=submit]").click()
    wait_for("the refusal", lambda: "not valid" in text_of(driver, "[role=alert]"), 10)
    print("ok: a wrong API key is refused", flush=True)
    driver.find_element(By.ID, "api_key").send_keys(args.key)
    driver.find_element(By.CSS_SELECTOR, "main form button[type=submit]").click()
    wait_for("the jobs page", lambda: driver.current_url.endswith("/ui") and text_of(driver, "h1") == "Jobs", 10)
    print("ok: signed in, the jobs page opens", flush=True)
    check(args.key not in driver.current_url, "the API key is not in the URL")
    cookies = {cookie["name"]: cookie for cookie in driver.get_cookies()}
    session = cookies.get("batchgate_session")
    check(session is not None and session["httpOnly"] and session.get("sameSite") == "Strict", "the session cookie is HttpOnly and SameSite=Strict")
    check(args.key not in session["value"], "the session cookie does not hold the API key")

    # Batches on the three vendors, and one of another tenant.
    urls = ["https://example.com/browser/%d" % index for index in range(3)]
    created = {}
    status, body = api(base, args.key, "POST", "/v1/batches", {"route": "scrape", "input": {"urls": urls}})
    check(status == 201, "an AirOps batch is created through the API")
    created["airops"] = body["id"]
    status, body = api(base, args.key, "POST", "/v1/batches", {"route": "scrape-aitronos", "input": {"urls": urls}})
    check(status == 201, "an Aitronos batch is created through the API")
    created["aitronos"] = body["id"]
    documents = [{"title": HOSTILE, "file_path": "https://files.example/hostile.pdf", "file_source_type": "url"}] + [
        {"title": "Browser document %d" % index, "file_path": "https://files.example/%d.pdf" % index, "file_source_type": "url"}
        for index in range(3)
    ]
    status, body = api(base, args.key, "POST", "/v1/batches", {"route": "tag-documents", "input": {"documents": documents}})
    check(status == 201, "a document-tagging batch is created through the API")
    created["tagger"] = body["id"]
    long_documents = [
        {"title": "Long document %d" % index, "file_path": "https://files.example/long-%d.pdf" % index, "file_source_type": "url"}
        for index in range(60)
    ]
    status, body = api(base, args.key, "POST", "/v1/batches", {"route": "tag-documents", "input": {"documents": long_documents}})
    check(status == 201, "a long document-tagging batch (to cancel) is created")
    to_cancel = body["id"]
    status, body = api(base, args.other_key, "POST", "/v1/batches", {"route": "scrape", "input": {"urls": urls}})
    check(status == 201, "another tenant's batch is created")
    foreign = body["id"]

    # The rows reach 100 % live, without a reload.
    driver.get(base + "/ui")
    at_load = {vendor: row_state(driver, job_id) for vendor, job_id in created.items()}
    check(all(state is not None for state in at_load.values()), "the jobs page lists the three batches")
    check(row_state(driver, foreign) is None, "another tenant's batch is not listed")
    unfinished = [vendor for vendor, state in at_load.items() if state[1] != "100%"]
    check(len(unfinished) == 3, "the three batches are still running when the page loads: %s" % at_load)
    driver.execute_script("window.__notReloaded = true;")
    wait_for("the live events stream", lambda: driver.execute_script("return document.documentElement.dataset.liveConnected") == "true", 10)
    for vendor, job_id in created.items():
        wait_for(
            "the %s row at 100 %% and completed" % vendor,
            lambda: row_state(driver, job_id) == ("completed", "100%"),
            timeout=90,
        )
        print("ok: the %s row reached completed, 100%% (it showed %s at load)" % (vendor, at_load[vendor]), flush=True)
    check(driver.execute_script("return window.__notReloaded === true"), "the rows changed without a reload")
    driver.save_screenshot(shots + "/ui-jobs.png")

    # Another tenant's job is a 404, as in the API.
    driver.get(base + "/ui/batches/" + foreign)
    check("Not found" in driver.find_element(By.TAG_NAME, "h1").text, "another tenant's job page answers Not found")

    # A hostile title is text: no element made of it, no script run.
    driver.get(base + "/ui/batches/" + created["tagger"])
    cells = [cell.text for cell in driver.find_elements(By.CSS_SELECTOR, "table.results td")]
    check(HOSTILE in cells, "the hostile document title is shown as text in the results")
    check(driver.execute_script("return window.__xss === undefined"), "nothing in the hostile title ran")
    check(not driver.find_elements(By.CSS_SELECTOR, 'img[src="x"]'), "the hostile title made no element")

    # CSRF: a form post without the page's token is refused.
    status = driver.execute_script(
        "return fetch('/ui/batches/%s/cancel', {method: 'POST', headers: {'Content-Type': 'application/x-www-form-urlencoded'},"
        " body: 'confirm=yes'}).then(r => r.status)" % to_cancel
    )
    check(status == 403, "a cancel posted without the CSRF token is refused (403)")

    # Cancel the long tagging job from its page, through the confirmation.
    driver.get(base + "/ui/batches/" + to_cancel)
    wait_for("the long job running", lambda: text_of(driver, "[data-field=lifecycle]") == "running" or (driver.refresh() and False), 30, 0.5)
    cancel = driver.find_element(By.XPATH, "//button[normalize-space()='Cancel…']")
    cancel.click()
    wait_for("the confirmation page", lambda: "Cancel job" in text_of(driver, "h1"), 10)
    print("ok: cancelling asks for confirmation first", flush=True)
    driver.find_element(By.XPATH, "//button[normalize-space()='Cancel the job']").click()
    wait_for("the job page after the cancel", lambda: "Cancel sent" in text_of(driver, "[role=status]"), 10)
    print("ok: the job page says the cancel was sent", flush=True)
    wait_for(
        "the long job cancelled",
        lambda: text_of(driver, "[data-field=lifecycle]") == "cancelled" or (driver.refresh() and False),
        timeout=60,
        interval=1,
    )
    print("ok: the cancelled job shows cancelled", flush=True)
    status, body = api(base, args.key, "GET", "/v1/batches/" + to_cancel)
    check(body["lifecycle_status"] == "cancelled", "the API agrees: cancelled")
    driver.get(base + "/ui/batches/" + created["airops"])
    # The whole page: a window as tall as the document.
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(1280, min(max(800, height + 120), 4000))
    driver.save_screenshot(shots + "/ui-job.png")
    driver.set_window_size(1280, 800)

    # The vendors page, the keyboard and a phone-width window.
    driver.get(base + "/ui/vendors")
    names = [cell.text for cell in driver.find_elements(By.CSS_SELECTOR, "tbody tr td:first-child")]
    check({"airops", "aitronos", "tagger"} <= set(names), "the vendors page lists the providers")
    driver.save_screenshot(shots + "/ui-vendors.png")
    driver.get(base + "/ui")
    driver.find_element(By.TAG_NAME, "body").send_keys(Keys.TAB)
    check(driver.switch_to.active_element.text == "Skip to content", "the first Tab reaches the skip link")
    driver.set_window_size(390, 844)
    driver.get(base + "/ui")
    overflow = driver.execute_script("return document.documentElement.scrollWidth - document.documentElement.clientWidth")
    check(overflow <= 1, "at phone width the page does not scroll sideways (%d px)" % overflow)
    driver.save_screenshot(shots + "/ui-jobs-phone.png")
    driver.set_window_size(1280, 800)

    # Sign out ends the session.
    driver.find_element(By.XPATH, "//button[normalize-space()='Sign out']").click()
    wait_for("the sign-in form after signing out", lambda: driver.current_url.endswith("/ui/sign-in"), 10)
    driver.get(base + "/ui")
    check(driver.current_url.endswith("/ui/sign-in"), "after signing out, /ui asks to sign in again")
    # The 401, 404 and 403 answers above are network entries; a script error or a Content-Security-Policy
    # violation would be another source.
    console = [entry for entry in driver.get_log("browser") if entry["level"] == "SEVERE" and entry["source"] != "network"]
    check(not console, "no script errors or policy violations in the browser console: %s" % console)


if __name__ == "__main__":
    main()
