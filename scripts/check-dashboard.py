#!/usr/bin/env python3
"""Drives JobKit's dashboard in a real browser: Debian's headless Chromium through chromium-driver and Selenium.

    check-dashboard.py --prepare
        make sure the venv exists (scripts/test runs this while Swift builds)
    check-dashboard.py --url http://127.0.0.1:PORT --operator NAME:PASSWORD --viewer NAME:PASSWORD \
                       --job ID --queue Q
        as the operator: sign in, open dead job ID of queue Q (a `jobkit.sleep` of a second or more, so that it is
        still running when the page comes back), press Retry, and see the job become `completed` on
        the same page, live (server-sent events), without a reload; sign out; as the viewer: sign in and find no
        action button on the job, its queue and the nodes page. Exit 1 naming the step that failed.
    check-dashboard.py --url … --operator NAME:PASSWORD --screenshots DIR [--job ID --queue Q --tenant T]
        sign in and save a 1280x800 PNG of every page into DIR (docs/screenshots is made this way)

Selenium (pinned below) lives in a venv at $JOBKIT_SELENIUM_VENV (default .build/selenium-venv), made on first
use from PyPI; it drives the system's Chromium ($JOBKIT_CHROMIUM, default /usr/bin/chromium) with the system's
chromedriver ($JOBKIT_CHROMEDRIVER, default /usr/bin/chromedriver); no browser is downloaded.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import pyvenv  # noqa: E402  (scripts/lib/pyvenv.py)

VERSION = "4.51.0"


class StepFailed(Exception):
    pass


def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = os.environ.get("JOBKIT_CHROMIUM", "/usr/bin/chromium")
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,800",
                "--hide-scrollbars", "--force-device-scale-factor=1", "--lang=en-US"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(os.environ.get("JOBKIT_CHROMEDRIVER", "/usr/bin/chromedriver")),
                              options=options)
    # The page's viewport, exactly 1280x800 (the window's includes no chrome in headless mode, but be explicit).
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                           {"width": 1280, "height": 800, "deviceScaleFactor": 1, "mobile": False})
    driver.set_page_load_timeout(20)
    return driver


def step(name, condition, detail=""):
    print(f"check-dashboard: {'ok  ' if condition else 'FAIL'} {name}{(' — ' + detail) if detail and not condition else ''}")
    if not condition:
        raise StepFailed(name + (": " + detail if detail else ""))


def sign_in(driver, base, credentials):
    from selenium.webdriver.common.by import By

    user, password = credentials.split(":", 1)
    driver.delete_all_cookies()
    driver.get(base + "/ui/login")
    driver.find_element(By.NAME, "user").send_keys(user)
    driver.find_element(By.NAME, "password").send_keys(password)
    driver.find_element(By.CSS_SELECTOR, "form.login button[type=submit]").click()
    from selenium.webdriver.support.ui import WebDriverWait

    try:
        WebDriverWait(driver, 10).until(lambda d: d.find_elements(By.CSS_SELECTOR, "header.top .user"))
    except Exception:
        pass
    step(f"sign in as {user}", driver.find_elements(By.CSS_SELECTOR, "header.top .user") != []
         and driver.find_element(By.CSS_SELECTOR, "header.top .user").text == user, driver.current_url)


def sign_out(driver):
    from selenium.webdriver.common.by import By

    from selenium.webdriver.support.ui import WebDriverWait

    driver.find_element(By.CSS_SELECTOR, "form[action='/ui/logout'] button").click()
    try:
        WebDriverWait(driver, 10).until(lambda d: "/ui/login" in d.current_url)
    except Exception:
        pass
    step("sign out", "/ui/login" in driver.current_url, driver.current_url)


def action_buttons(driver):
    from selenium.webdriver.common.by import By

    return [b.text for b in driver.find_elements(By.CSS_SELECTOR, "main button, main select[name=action]")]


def check(args):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    driver = browser()
    try:
        base = args.url.rstrip("/")
        job_page = f"{base}/ui/jobs/{args.job}?queue={args.queue}"
        sign_in(driver, base, args.operator)
        driver.get(job_page)
        state = driver.find_element(By.ID, "job-state")
        step("the job page shows a dead job", state.text == "dead", state.text)
        WebDriverWait(driver, 10).until(lambda d: d.find_element(By.ID, "live").get_attribute("data-state") == "on")
        step("the page is live (server-sent events connected)", True)
        driver.find_element(By.CSS_SELECTOR, "form[action$='/retry'] button").click()
        try:
            WebDriverWait(driver, 10).until(lambda d: d.find_elements(By.CSS_SELECTOR, ".flash"))
        except Exception:
            pass
        flash = driver.find_elements(By.CSS_SELECTOR, ".flash")
        step("Retry answers with what it did", flash != [] and "Retried" in flash[0].text, flash[0].text if flash else "")
        # The job (a 2-second jobkit.sleep) is waiting or running when the page comes back: not finished yet.
        after = driver.find_element(By.ID, "job-state").text
        step("after Retry the job is ready or active", after in ("ready", "active"), after)
        # A marker that a reload would wipe: the state must change on this very page.
        driver.execute_script("window.__jobkitNoReload = 42;")
        WebDriverWait(driver, 10).until(lambda d: d.find_element(By.ID, "live").get_attribute("data-state") == "on")
        try:
            WebDriverWait(driver, 20).until(lambda d: d.find_element(By.ID, "job-state").text == "completed")
        except Exception:
            step("the job becomes completed live", False, driver.find_element(By.ID, "job-state").text)
        step("the job becomes completed live", True)
        step("without a reload", driver.execute_script("return window.__jobkitNoReload") == 42)
        sign_out(driver)

        sign_in(driver, base, args.viewer)
        for path in (f"/ui/jobs/{args.job}?queue={args.queue}", f"/ui/queues/{args.queue}?state=dead",
                     f"/ui/queues/{args.queue}?state=completed", "/ui/nodes", "/ui/schedules"):
            driver.get(base + path)
            buttons = action_buttons(driver)
            step(f"the viewer sees no action on {path}", buttons == [], ", ".join(buttons))
        sign_out(driver)
    finally:
        driver.quit()


def screenshots(args):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    os.makedirs(args.screenshots, exist_ok=True)
    driver = browser()
    try:
        base = args.url.rstrip("/")
        driver.get(base + "/ui/login")
        driver.save_screenshot(os.path.join(args.screenshots, "login.png"))
        sign_in(driver, base, args.operator)
        # A few operator actions first, so that the audit page has something to show.
        driver.get(f"{base}/ui/queues/{args.queue}?state=dead")
        driver.find_element(By.CSS_SELECTOR, "form[action$='/pause'] button").click()
        WebDriverWait(driver, 10).until(lambda d: d.find_elements(By.CSS_SELECTOR, "form[action$='/resume'] button"))
        driver.find_element(By.CSS_SELECTOR, "form[action$='/resume'] button").click()
        WebDriverWait(driver, 10).until(lambda d: d.find_elements(By.CSS_SELECTOR, "form[action$='/pause'] button"))
        driver.get(f"{base}/ui/schedules")
        triggers = driver.find_elements(By.CSS_SELECTOR, "form[action$='/trigger'] button")
        if triggers:
            triggers[0].click()
            WebDriverWait(driver, 10).until(lambda d: d.find_elements(By.CSS_SELECTOR, ".flash"))
        pages = [("overview", "/ui"), ("queue", f"/ui/queues/{args.queue}?state=dead"),
                 ("search", f"/ui/search?tenant={args.tenant}" if args.tenant else "/ui/search?state=dead"),
                 ("nodes", "/ui/nodes"), ("schedules", "/ui/schedules"), ("limits", "/ui/limits"),
                 ("tenants", "/ui/tenants"), ("audit", "/ui/audit")]
        if args.job:
            pages.insert(2, ("job", f"/ui/jobs/{args.job}?queue={args.queue}"))
        for name, path in pages:
            driver.get(base + path)
            try:
                WebDriverWait(driver, 5).until(lambda d: d.find_element(By.ID, "live").get_attribute("data-state") == "on")
            except Exception:
                pass
            path_out = os.path.join(args.screenshots, f"{name}.png")
            driver.save_screenshot(path_out)
            print(f"check-dashboard: {path_out}")
    finally:
        driver.quit()


def main():
    venv = pyvenv.ensure("selenium", VERSION, "JOBKIT_SELENIUM_VENV",
                         os.path.join(os.path.dirname(__file__), "..", ".build", "selenium-venv"),
                         "JOBKIT_SELENIUM_IN_VENV", prog="check-dashboard", script=__file__, argv=sys.argv[1:])
    parser = argparse.ArgumentParser(prog="check-dashboard")
    parser.add_argument("--prepare", action="store_true")
    parser.add_argument("--url")
    parser.add_argument("--operator")
    parser.add_argument("--viewer")
    parser.add_argument("--job")
    parser.add_argument("--queue", default="default")
    parser.add_argument("--tenant")
    parser.add_argument("--screenshots")
    args = parser.parse_args()
    if args.prepare:
        print(f"selenium {VERSION} ready in {venv}")
        return
    if not args.url or not args.operator:
        parser.error("--url and --operator are needed")
    try:
        if args.screenshots:
            screenshots(args)
        else:
            if not (args.viewer and args.job):
                parser.error("--viewer and --job are needed")
            check(args)
    except StepFailed as failure:
        sys.exit(f"check-dashboard: failed: {failure}")
    print("check-dashboard: every step passed")


if __name__ == "__main__":
    main()
