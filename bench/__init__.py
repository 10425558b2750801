"""Labelgram's benchmark (issue 6): `.venv/bin/python -m bench.run --help`.

run.py      the command: options, runs, the Markdown table, bench/results/latest.json
taps.py     the tap loop: N students against Labelgram and a bare PTB bot (bare_bot.py)
harness.py  the Bot API test server with cheap waits, bot processes, /proc readings, py-spy
stats.py    percentiles, medians, ratios;  report.py  tables, machine info, the JSON file
profile.py  where a bot's CPU goes, from `bench.run --py-spy DIR` samples
"""
