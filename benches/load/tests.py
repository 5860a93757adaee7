#!/usr/bin/env python3
"""Unit tests of the load benchmark's pure parts (no processes, no network): steal from /proc/stat readings, the
wrk scripts, the paired summaries and target verdicts, the SVG plot. Run: `python3 benches/load/tests.py`."""

import os
import sys
import tempfile
import unittest
import xml.etree.ElementTree as ET

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from loadlib import plot, report, system  # noqa: E402


def run(rps, p99=1000, non_2xx=0, steal=0.0, server=20.0):
    return {"requests": int(rps * 8), "rps": rps, "non_2xx": non_2xx, "socket_errors": 0, "p50_us": 500,
            "p99_us": p99, "p999_us": p99 * 2, "max_us": p99 * 3, "steal_percent": steal,
            "cpu_us_per_request": {"server": server, "upstream": 6.0, "wrk": 5.0}}


def pair(base, test, steal=0.0):
    return {"round": 0, "base": base, "test": test, "steal_percent": steal, "dropped": steal > 5.0}


class Steal(unittest.TestCase):
    def test_worst_cpu_share_of_steal(self):
        before = {"cpu0": [0] * 10, "cpu1": [0] * 10}
        after = {"cpu0": [90, 0, 0, 0, 0, 0, 0, 10, 0, 0], "cpu1": [99, 0, 0, 0, 0, 0, 0, 1, 0, 0]}
        self.assertAlmostEqual(system.steal_percent(before, after), 10.0)

    def test_no_time_passed_is_no_steal(self):
        same = {"cpu0": [5] * 10}
        self.assertEqual(system.steal_percent(same, same), 0.0)


class WrkScripts(unittest.TestCase):
    def script(self, *args, **kwargs):
        with tempfile.NamedTemporaryFile("r", suffix=".lua", delete=False) as f:
            path = f.name
        system.wrk_script(path, *args, **kwargs)
        with open(path) as f:
            text = f.read()
        os.unlink(path)
        return text

    def test_one_request_keeps_wrks_prebuilt_request(self):
        text = self.script({"Cookie": "session=abc"})
        self.assertIn('wrk.headers["Cookie"] = "session=abc"', text)
        self.assertNotIn("function request", text)
        self.assertIn("function done", text)

    def test_variants_are_sent_in_turn(self):
        text = self.script({}, [("/a", {"apikey": "k1"}), ("/b", {"apikey": "k2"})])
        self.assertIn('{"/a", {["apikey"] = "k1"}}', text)
        self.assertIn("function request", text)

    def test_limit_exits_after_that_many_responses(self):
        text = self.script({}, [("/", {"apikey": "k"})], limit=100)
        self.assertIn("local limit = 100", text)
        self.assertIn("LIMIT_REACHED", text)


class Summaries(unittest.TestCase):
    def paired(self, pairs):
        return {"title": "t", "base": "nginx", "test": "gateway", "pairs": pairs}

    def test_high_steal_pairs_are_dropped(self):
        s = report.summarize_paired(self.paired([
            pair(run(1000), run(950)), pair(run(1000), run(900)), pair(run(1000), run(100), steal=9.0)]))
        self.assertEqual((s["kept"], s["dropped"]), (2, 1))
        self.assertAlmostEqual(s["rps_ratio"][0], 0.925)
        self.assertEqual(s["rps_ratio"][1:], (0.9, 0.95))

    def test_a_non_2xx_response_fails_the_target(self):
        good = self.paired([pair(run(1000), run(1000))])
        bad = self.paired([pair(run(1000), run(1000, non_2xx=1))])
        results = {"paired": {"plain": good}, "series": {}, "not_run": {}, "memory": {}}
        verdict = dict((t, v) for t, v, _ in report.targets(results, {"plain": report.summarize_paired(good)}, {}))
        self.assertEqual(verdict["no plugins ≥ 1.0 × nginx RPS"], "PASS")
        verdict = dict((t, v) for t, v, _ in report.targets(results, {"plain": report.summarize_paired(bad)}, {}))
        self.assertEqual(verdict["no plugins ≥ 1.0 × nginx RPS"], "FAIL")

    def test_floor_row_compares_the_gateway_with_bare_hyper(self):
        floor = self.paired([pair(run(1000, server=10.0), run(800, server=12.0))])
        plain = self.paired([pair(run(1000, server=10.0), run(600, server=16.0))])
        results = {"paired": {"floor": floor, "plain": plain}, "series": {}, "not_run": {}, "memory": {}}
        summaries = {"floor": report.summarize_paired(floor), "plain": report.summarize_paired(plain)}
        rows = {t: (v, m) for t, v, m in report.targets(results, summaries, {})}
        verdict, measured = next(vm for t, vm in rows.items() if t.startswith("(bound) bare hyper"))
        self.assertEqual(verdict, "FAIL")
        self.assertIn("0.800", measured)
        self.assertIn("gateway no plugins / floor 0.750", measured)
        self.assertIn("16.0 vs 12.0 (nginx 10.0)", measured)

    def test_series_cost_ratio_and_partial_range(self):
        rounds = [{"round": 0, "dropped": False, "steal_percent": 0,
                   "runs": {"10": run(1000, server=20.0), "1000": run(900, server=26.0)}}]
        result = {"title": "routes", "sizes": [10, 1000], "rounds": rounds, "extra": {}}
        s = report.summarize_series(result)
        self.assertAlmostEqual(s["cost_ratio"][0], 1.3)
        results = {"paired": {}, "series": {"scale-routes": result}, "not_run": {}, "memory": {}}
        rows = {t: v for t, v, _ in report.targets(results, {}, {"scale-routes": s})}
        self.assertEqual(rows["scale-routes: cost ≤ 1.5 × from 10 to 10,000"], "PASS (partial)")


class Plot(unittest.TestCase):
    def test_svg_parses_with_and_without_data(self):
        ET.fromstring(plot.svg({}, {}))
        s = report.summarize_paired({"title": "t", "base": "nginx", "test": "gateway",
                                     "pairs": [pair(run(1000), run(950))]})
        rounds = [{"round": 0, "dropped": False, "steal_percent": 0,
                   "runs": {"10": run(1000), "10000": run(900, server=25.0)}}]
        series = report.summarize_series({"title": "r", "sizes": [10, 10000], "rounds": rounds, "extra": {}})
        ET.fromstring(plot.svg({"plain": s}, {"scale-routes": series}))


if __name__ == "__main__":
    unittest.main()
