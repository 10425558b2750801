"""Labelgram's benchmark (issue 6): `.venv/bin/python -m bench.run --help`.

run.py         the command: which measurements (--only), their options, the Markdown tables,
               bench/results/latest.json
taps.py        the tap loop: N students against Labelgram and a bare PTB bot (bare_bot.py)
imports.py     100k rows through /upload end to end against a raw executemany; bot memory
next_task.py   the next-task query and the bot's _issue at 10k, 100k and 1M tasks
fair_share.py  200 students of different speeds on 1,000 scarce tasks, fifo against fair
harness.py     the Bot API test server with cheap waits, bot processes, /proc readings, py-spy,
               databases built with plain sqlite3 in the real schema
stats.py       percentiles, medians, ratios, Gini;  report.py  tables, machine info, the JSON
profile.py     where a bot's CPU goes, from `bench.run --py-spy DIR` samples
"""
