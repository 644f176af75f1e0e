"""Horizon (tools/horizon.sh) against a keystone-flavor stack, driven by headless Chromium.

One stack and one Horizon per upload mode serve the whole session of an xdist worker (not
the module: xdist may run other modules' tests in between, which would tear module fixtures
down). The stack is the Keystone catalog's image endpoint in a region of the worker's own
(REGION: RegionOne's belongs to whoever registered last, tempest or other stacks sharing
this Keystone) and allows the `direct` Horizon's origin in `[cors]`. Chromium and
chromedriver are Debian's (`tools/horizon.sh browser`), driven by selenium. Every test
leaves `screenshot.png` and `page.html` in its tmp_path, on success and on failure.
"""
import contextlib
import json
import os
import subprocess
import time

import pytest
import requests

from tests.conftest import REPO_ROOT
from tests.functional.keystone.conftest import KeystoneStack, keystone  # noqa: F401 (fixture)

HORIZON_SH = REPO_ROOT / "tools" / "horizon.sh"
MODES = ("legacy", "direct")
PASSWORD = "secret"
WAIT = 60


# NOTE: xdist may split this module over both workers (its loadgroup ignores xdist_group
# under pytest 9): each worker runs its own Horizons, stack and region.
INSTANCE = os.environ.get("PYTEST_XDIST_WORKER", "master")
REGION = "glance-clone-horizon-" + INSTANCE


def horizon_sh(*args, timeout=120, env=None):
    """Run tools/horizon.sh; return the finished process."""
    return subprocess.run(["bash", str(HORIZON_SH), *args], capture_output=True, text=True,
                          timeout=timeout, env=env)


@pytest.fixture(scope="session")
def chromium():
    """Return (chromium, chromedriver) paths, installing Debian's packages if needed."""
    proc = horizon_sh("browser", timeout=1200)
    if proc.returncode != 0:
        pytest.skip("tools/horizon.sh browser failed: %s" % proc.stderr[-500:])
    return proc.stdout.strip().splitlines()[-1], "/usr/bin/chromedriver"


@pytest.fixture(scope="session")
def horizons(keystone):  # noqa: F811 (fixture)
    """Start one Horizon per upload mode; return {mode: url}. Stopped at the end."""
    urls = {}
    env = dict(os.environ, KEYSTONE_URL=keystone.url, HORIZON_SERVICES_REGION=REGION,
               HORIZON_INSTANCE=INSTANCE)
    try:
        for mode in MODES:
            proc = horizon_sh("start", mode, timeout=1800, env=env)
            if proc.returncode != 0:
                if "pip could not install" in proc.stderr:
                    pytest.skip("tools/horizon.sh start failed: %s" % proc.stderr[-500:])
                raise RuntimeError("tools/horizon.sh start %s failed:\n%s"
                                   % (mode, proc.stderr[-3000:]))
            last = proc.stdout.strip().splitlines()[-1]
            assert last.startswith("HORIZON_URL="), proc.stdout
            urls[mode] = last.split("=", 1)[1]
        yield urls
    finally:
        for mode in MODES:
            horizon_sh("stop", mode, env=env)


@pytest.fixture(scope="session")
def hz_stack(tmp_path_factory, keystone, horizons):  # noqa: F811 (fixture)
    """A keystone-flavor stack, the catalog's image endpoint, open to the direct Horizon."""
    root = tmp_path_factory.mktemp("hz-stack")
    running = KeystoneStack(root, f"sqlite:///{root}/glance.sqlite", "hz-stack", keystone)
    # What an operator adds for Horizon's direct uploads (README "Horizon").
    running.api_extra += "\n[cors]\nallowed_origin = %s\n" % horizons["direct"]
    try:
        running.start()
        keystone.register(running.api_url, REGION)
        load_metadefs(keystone.user(running.api_url, "admin"))
        yield running
    finally:
        unregister(keystone, REGION)
        running.stop()


def unregister(keystone, region):  # noqa: F811 (the fixture, passed in)
    """Delete the catalog's endpoints in ``region``: the stack behind them is going away."""
    headers = {"X-Auth-Token": keystone.token("admin")[0]}
    resp = requests.get(keystone.url + "/v3/endpoints", headers=headers, timeout=60)
    for endpoint in resp.json()["endpoints"]:
        if endpoint.get("region_id") == region:
            requests.delete(keystone.url + "/v3/endpoints/" + endpoint["id"], headers=headers,
                            timeout=60)


# NOTE: one namespace of Glance's etc/metadefs/compute-libvirt-image.json, abridged, as
# deployments have them from `glance-manage db_load_metadefs`: with no namespace for images,
# Horizon 27's namespace view fails (a pool of zero workers, 500) behind every image dialog.
LIBVIRT_NAMESPACE = {
    "namespace": "OS::Compute::LibvirtImage", "display_name": "libvirt Driver Options for Images",
    "description": "The libvirt compute driver options.", "visibility": "public",
    "protected": True,
    "resource_type_associations": [{"name": "OS::Glance::Image", "prefix": "hw_"}],
    "properties": {
        "disk_bus": {"title": "Disk Bus", "description": "Specifies the type of disk "
                     "controller to attach disk devices to.", "type": "string",
                     "enum": ["scsi", "virtio", "uml", "xen", "ide", "usb", "fdc", "sata"]},
    },
}


def load_metadefs(admin):
    """Create the images' metadef namespace, as `glance-manage db_load_metadefs` would."""
    resp = admin.post("/v2/metadefs/namespaces", json=LIBVIRT_NAMESPACE)
    assert resp.status_code == 201, resp.text


@pytest.fixture(scope="module", params=MODES)
def mode(request):
    """The upload mode of the Horizon a test drives."""
    return request.param


@pytest.fixture
def horizon_url(horizons, hz_stack, mode):
    """The URL of the Horizon of this test's mode (the stack registered)."""
    return horizons[mode]


@pytest.fixture
def api(hz_stack, keystone):  # noqa: F811 (fixture)
    """Return a function giving an API caller (TokenUser) of a Keystone account."""
    return lambda name: keystone.user(hz_stack.api_url, name)


@pytest.fixture(scope="session")
def chrome(chromium, tmp_path_factory, horizons):
    """Return a function starting a headless Chromium (selenium); skip if it cannot start."""
    from selenium import webdriver
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium[0]
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                "--disable-gpu", "--window-size=1600,1000", "--lang=en-US"):
        options.add_argument(arg)
    # the Network events tell which requests the browser itself sent (Page.requests_to)
    options.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    logs = tmp_path_factory.mktemp("chromedriver")

    def start():
        service = Service(executable_path=chromium[1],
                          log_output=str(logs / "chromedriver.log"))
        try:
            driver = webdriver.Chrome(service=service, options=options)
        except WebDriverException as exc:
            print("SKIP: chromium does not start: %s" % exc.msg)
            pytest.skip("chromium does not start: %s" % exc.msg)
        driver.set_page_load_timeout(WAIT)
        return driver
    start().quit()   # skip early, once, if the browser cannot start
    return start


@pytest.fixture
def browser(chrome, tmp_path, horizon_url):
    """A new Chromium on this test's Horizon; saves tmp_path/screenshot.png at the end."""
    from selenium.common.exceptions import WebDriverException

    page = Page(chrome, horizon_url)
    try:
        yield page
    finally:
        with contextlib.suppress(WebDriverException):
            page.driver.save_screenshot(str(tmp_path / "screenshot.png"))
        with contextlib.suppress(WebDriverException):
            (tmp_path / "page.html").write_text(page.driver.page_source)
        page.driver.quit()


class Page:
    """The browser on one Horizon, with the few gestures the tests make."""

    def __init__(self, start, base_url):
        self.start = start
        self.driver = start()
        self.base_url = base_url

    def open(self, path):
        self.driver.get(self.base_url + path)

    def wait(self, condition, timeout=WAIT, message=""):
        """Wait until ``condition(driver)`` is truthy; return its value."""
        from selenium.common.exceptions import StaleElementReferenceException
        from selenium.webdriver.support.ui import WebDriverWait

        # NOTE: Angular re-renders the tables: an element found may be gone when read.
        return WebDriverWait(self.driver, timeout, poll_frequency=0.2,
                             ignored_exceptions=(StaleElementReferenceException,)).until(
            condition, message)

    def find(self, css, timeout=WAIT):
        """Return the first visible element matching ``css`` (waits for it)."""
        return self.wait(lambda d: self._first_visible(d, "css selector", css), timeout,
                         "no visible %r" % css)

    def _click_when_free(self, finder, what, timeout):
        """Click what ``finder(driver)`` returns, again while another element (a modal still
        sliding in, a toast) would take the click."""
        from selenium.common.exceptions import ElementClickInterceptedException

        def clicked(driver):
            element = finder(driver)
            if element is None:
                return False
            try:
                element.click()
            except ElementClickInterceptedException:
                return False
            return True
        self.wait(clicked, timeout, "could not click %s" % what)

    @staticmethod
    def _first_visible(driver, by, query):
        for element in driver.find_elements(by, query):
            if element.is_displayed():
                return element
        return None

    def click(self, css, timeout=WAIT):
        self._click_when_free(lambda d: self._first_visible(d, "css selector", css), css,
                              timeout)

    def find_xpath(self, xpath, timeout=WAIT):
        """Return the first visible element matching ``xpath`` (waits for it)."""
        return self.wait(lambda d: self._first_visible(d, "xpath", xpath), timeout,
                         "no visible %s" % xpath)

    def click_text(self, text, tag="*", timeout=WAIT):
        """Click the visible element ``tag`` whose own text is ``text``."""
        xpath = "//%s[normalize-space(.)=%s]" % (tag, xpath_literal(text))
        self._click_when_free(lambda d: self._first_visible(d, "xpath", xpath), xpath,
                              timeout)

    def type(self, css, text):
        element = self.find(css)
        element.clear()
        element.send_keys(text)

    def select(self, css, label):
        """Choose the option labelled ``label`` of the select ``css``."""
        from selenium.webdriver.support.ui import Select
        Select(self.find(css)).select_by_visible_text(label)

    def toasts(self):
        """Return the texts of the notifications (toasts) shown now."""
        return [t.text.strip() for t in self.driver.find_elements("css selector", "toast .alert")
                if t.is_displayed()]

    def text(self):
        return self.driver.find_element("tag name", "body").text

    def wait_text(self, text, timeout=WAIT):
        """Wait until the page shows ``text``."""
        self.wait(lambda d: text in self.text(), timeout, "page never showed %r" % text)

    def login(self, user, path="/project/images/"):
        """Log in through the form as ``user``, landing on ``path``."""
        self.open("/auth/login/?next=" + path)
        self.type("#id_username", user)
        self.type("#id_password", PASSWORD)
        self.click("#loginBtn")
        self.wait(lambda d: "/auth/login" not in d.current_url, message="login failed")
        assert "/auth/" not in self.driver.current_url, self.text()[:500]
        # the user menu names who is logged in
        self.find_xpath("//*[contains(@class, 'dropdown-toggle')][normalize-space(.)=%s]"
                        % xpath_literal(user))

    def requests_to(self, base_url):
        """Return [(method, url, status, request headers)] the browser sent to ``base_url``.

        Reads (and so drops) the Network events logged since the last call.
        """
        sent, status = {}, {}
        for entry in self.driver.get_log("performance"):
            message = json.loads(entry["message"])["message"]
            params = message.get("params", {})
            if message["method"] == "Network.requestWillBeSent":
                request = params["request"]
                if request["url"].startswith(base_url):
                    sent[params["requestId"]] = (request["method"], request["url"],
                                                 request.get("headers", {}))
            elif message["method"] == "Network.responseReceived":
                status[params["requestId"]] = params["response"]["status"]
        return [(method, url, status.get(rid), headers)
                for rid, (method, url, headers) in sent.items()]

    def logout(self):
        """Forget the session: go on in a new browser.

        NOTE: Horizon keeps the session in a signed cookie, which the answer to an XHR still
        in flight when the cookies are dropped can set again (seen: the next user's page then
        asked with the previous user's token); a new browser has no such stragglers.
        """
        self.driver.quit()
        self.driver = self.start()

    def row(self, name, timeout=WAIT):
        """Wait for the images table row naming ``name``; return its cell texts."""
        xpath = "//tr[.//a[normalize-space(.)=%s]]" % xpath_literal(name)

        def cells(driver):
            rows = [r for r in driver.find_elements("xpath", xpath) if r.is_displayed()]
            return rows and [c.text.strip() for c in rows[0].find_elements("tag name", "td")]
        return self.wait(cells, timeout, "no table row for %r" % name)

    def edit(self, name):
        """Open the Edit Image dialog of ``name``; wait until it shows the image."""
        self.row_action(name, "Edit Image")
        self.wait(lambda d: self.find("#imageForm-name").get_attribute("value") == name,
                  message="edit dialog never showed %r" % name)

    def row_when(self, name, ready, timeout=WAIT, reload=True):
        """Wait until the row of ``name`` satisfies ``ready(cells)``; return its cells.

        With ``reload`` the page is reloaded between looks (the table does not poll).
        """
        deadline = time.monotonic() + timeout
        while True:
            cells = self.row(name)
            if ready(cells):
                return cells
            if time.monotonic() > deadline:
                raise AssertionError("row of %r stayed %r" % (name, cells))
            time.sleep(1 if reload else 0.2)
            if reload:
                self.driver.refresh()

    def row_actions(self, name):
        """Open the action menu of the row of ``name``; return the labels it offers."""
        xpath = "//tr[.//a[normalize-space(.)=%s]]" % xpath_literal(name)
        self.row(name)
        toggle = self.find_xpath(xpath + "//*[contains(@class, 'dropdown-toggle')]")
        row = self.driver.find_element("xpath", xpath)
        toggle.click()
        menu = self.wait(lambda d: [a for a in row.find_elements(
            "css selector", ".dropdown-menu a, .dropdown-menu button") if a.is_displayed()])
        labels = [a.text.strip() for a in menu]
        primary = row.find_elements("css selector", ".btn-group > button:not(.dropdown-toggle)")
        return labels + [b.text.strip() for b in primary if b.is_displayed()]

    def row_action(self, name, label):
        """Run the action ``label`` of the row of ``name`` (menu or primary button)."""
        labels = self.row_actions(name)
        assert label in labels, labels
        self.click_text(label, tag="*[self::a or self::button]")

    def modal_button(self, label):
        """Click the button ``label`` of the open modal dialog."""
        self.click_text(label, tag="div[contains(@class,'modal')]//button")


def xpath_literal(text):
    """Quote ``text`` for an XPath expression."""
    return "'%s'" % text if "'" not in text else 'concat("%s")' % text.replace('"', '", \'"\', "')


def wait_for(predicate, timeout=WAIT, message=""):
    """Poll ``predicate`` until it returns a truthy value; return it."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(message or "timed out")
        time.sleep(0.3)

