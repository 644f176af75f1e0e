"""glance-scrubber --daemon keeps going when a run fails."""
import types

from glance_api.cli import scrubber
from glance_api.web.service_auth import ServiceAuth
from glance_registry import exceptions as registry_exc


class FlakyScrubber:
    def __init__(self):
        self.calls = 0

    def run(self, ctx):
        self.calls += 1
        if self.calls == 1:
            raise registry_exc.RegistryUnavailable('registry down')
        return {'scrubbed': 1, 'failed': 0, 'locations': 1}


def test_daemon_survives_a_failed_run_and_sleeps_between_runs():
    conf = types.SimpleNamespace(wakeup_time=7,
                                 paste_deploy=types.SimpleNamespace(flavor=None))
    flaky, slept = FlakyScrubber(), []
    scrubber.daemon(flaky, conf, ServiceAuth(conf), sleep=slept.append, runs=3)
    assert flaky.calls == 3
    assert slept == [7, 7, 7]
