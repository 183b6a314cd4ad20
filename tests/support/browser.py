# Copyright: virt.hostdev contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Debian's headless Chromium through its chromedriver, for tests that assert on what a page renders
and for the fleet benchmark, which times how long a page takes.

Chromium and chromedriver come from Debian's packages (tests/bindep.txt); nothing is downloaded.
"""

import contextlib
import os
import shutil
import tempfile
import time

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service

CHROMIUM = '/usr/bin/chromium'
CHROMEDRIVER = '/usr/bin/chromedriver'
WAIT = 20  # seconds, for anything the browser does; a 3x slower machine still passes


@contextlib.contextmanager
def chromium(window_size='1400,1000', wait=WAIT):
    """A headless Chromium WebDriver with a throw-away profile and no network of its own, whose page loads
    and scripts may take `wait` seconds."""
    missing = [path for path in (CHROMIUM, CHROMEDRIVER) if not os.access(path, os.X_OK)]
    if missing:
        pytest.fail('%s missing: install the Debian packages chromium and chromium-driver (make setup, '
                    'from bindep.txt)' % ', '.join(missing))
    profile = tempfile.mkdtemp(prefix='hostdev-chromium-')
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ('--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
                     '--disable-background-networking', '--disable-component-update', '--disable-sync',
                     '--disable-dev-shm-usage', '--hide-scrollbars', '--window-size=' + window_size,
                     '--user-data-dir=' + profile):
        options.add_argument(argument)
    # the browser and its driver are given: Selenium Manager must neither look for nor download any
    saved = os.environ.get('SE_OFFLINE')
    os.environ['SE_OFFLINE'] = 'true'
    try:
        driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    finally:
        if saved is None:
            del os.environ['SE_OFFLINE']
        else:
            os.environ['SE_OFFLINE'] = saved
    try:
        driver.set_page_load_timeout(wait)
        driver.set_script_timeout(wait)
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def load(driver, url, wait=WAIT):
    """Open url and wait (at most `wait` seconds) until the page has finished loading."""
    driver.get(url)
    deadline = time.monotonic() + wait
    while driver.execute_script('return document.readyState') != 'complete':
        assert time.monotonic() < deadline, 'the page did not finish loading in %d s' % wait
        time.sleep(0.1)
    return driver


def timings(driver):
    """What the loaded page took, in milliseconds from the navigation's start: {'dom': DOMContentLoaded's end,
    'load': the load event's end, 'paint': the first contentful paint (None when the browser names none)},
    and 'height', the page's height in pixels."""
    return driver.execute_script(
        'const nav = performance.getEntriesByType("navigation")[0];'
        'const paint = performance.getEntriesByType("paint").filter(p => p.name === "first-contentful-paint")[0];'
        'return {dom: nav.domContentLoadedEventEnd, load: nav.loadEventEnd,'
        ' paint: paint ? paint.startTime : null, height: document.documentElement.scrollHeight};')
