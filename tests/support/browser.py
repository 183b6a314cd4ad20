# Copyright: virt.hostdev contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Debian's headless Chromium through its chromedriver, for tests that assert on what a page renders.

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
def chromium(window_size='1400,1000'):
    """A headless Chromium WebDriver with a throw-away profile and no network of its own."""
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
        driver.set_page_load_timeout(WAIT)
        driver.set_script_timeout(WAIT)
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def load(driver, url):
    """Open url and wait (bounded) until the page has finished loading."""
    driver.get(url)
    deadline = time.monotonic() + WAIT
    while driver.execute_script('return document.readyState') != 'complete':
        assert time.monotonic() < deadline, 'the page did not finish loading in %d s' % WAIT
        time.sleep(0.1)
    return driver
