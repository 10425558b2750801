"""Schema migrations, applied in order; the index + 1 is the `PRAGMA user_version` reached.

No database had been deployed when migration 1's project types were widened to every task
type (SQLite cannot alter a CHECK constraint in place); from here on, migrations are
append-only: a change is a new entry at the end, never an edit of an applied one.

Times are ISO 8601 text in UTC with an explicit offset (see db.clock); money is integer
minor units (fen).
"""

MIGRATIONS: list[str] = [
    # 1: the labeling loop
    """
    CREATE TABLE workers (
        id          INTEGER PRIMARY KEY,              -- Telegram user id
        first_name  TEXT NOT NULL DEFAULT '',
        username    TEXT,
        language    TEXT NOT NULL,
        timezone    TEXT NOT NULL,
        status      TEXT NOT NULL DEFAULT 'active'
                    CHECK (status IN ('active', 'suspended', 'banned', 'blocked')),
        alerts      INTEGER NOT NULL DEFAULT 1,
        joined_at   TEXT NOT NULL
    );

    CREATE TABLE projects (
        id            INTEGER PRIMARY KEY,
        name          TEXT NOT NULL UNIQUE COLLATE NOCASE,
        type          TEXT NOT NULL CHECK (type IN ('label', 'rating', 'pairwise',
                                                    'multilabel', 'image', 'correction')),
        options       TEXT NOT NULL,                  -- JSON list of the answer values
        instructions  TEXT NOT NULL DEFAULT '',
        price         INTEGER NOT NULL CHECK (price >= 0),
        overlap       INTEGER NOT NULL CHECK (overlap >= 1),
        lease_seconds INTEGER NOT NULL CHECK (lease_seconds > 0),
        status        TEXT NOT NULL DEFAULT 'active'
                      CHECK (status IN ('active', 'paused', 'closed')),
        created_by    INTEGER NOT NULL,
        created_at    TEXT NOT NULL
    );

    CREATE TABLE uploads (
        id           INTEGER PRIMARY KEY,
        project_id   INTEGER NOT NULL REFERENCES projects(id),
        admin_id     INTEGER NOT NULL,
        file_name    TEXT NOT NULL,
        checksum     TEXT NOT NULL,
        format       TEXT NOT NULL,
        rows_added   INTEGER NOT NULL,
        rows_skipped INTEGER NOT NULL,
        created_at   TEXT NOT NULL
    );

    CREATE TABLE tasks (
        id          INTEGER PRIMARY KEY,
        project_id  INTEGER NOT NULL REFERENCES projects(id),
        external_id TEXT,
        text        TEXT NOT NULL,
        payload     TEXT NOT NULL DEFAULT '{}',
        gold        TEXT,
        needed      INTEGER NOT NULL CHECK (needed >= 1),
        answers     INTEGER NOT NULL DEFAULT 0,
        in_flight   INTEGER NOT NULL DEFAULT 0 CHECK (in_flight >= 0),
        status      TEXT NOT NULL DEFAULT 'open'
                    CHECK (status IN ('open', 'full', 'done', 'withdrawn')),
        upload_id   INTEGER REFERENCES uploads(id),
        UNIQUE (project_id, external_id)
    );
    -- Only tasks that can still be handed out are in this index: the next-task query
    -- walks it in id order and stays fast however many tasks are done.
    CREATE INDEX tasks_open ON tasks(project_id, id) WHERE status = 'open';

    CREATE TABLE assignments (
        id          INTEGER PRIMARY KEY,
        task_id     INTEGER NOT NULL REFERENCES tasks(id),
        worker_id   INTEGER NOT NULL REFERENCES workers(id),
        project_id  INTEGER NOT NULL REFERENCES projects(id),
        price       INTEGER NOT NULL CHECK (price >= 0),  -- locked when the task is handed out
        issued_at   TEXT NOT NULL,
        expires_at  TEXT NOT NULL,
        chat_id     INTEGER,
        message_id  INTEGER,
        status      TEXT NOT NULL DEFAULT 'open'
                    CHECK (status IN ('open', 'answered', 'expired', 'skipped', 'withdrawn')),
        closed_at   TEXT,
        UNIQUE (task_id, worker_id)
    );
    -- A student holds at most one open task at a time.
    CREATE UNIQUE INDEX assignments_one_open ON assignments(worker_id) WHERE status = 'open';
    CREATE INDEX assignments_open_expiry ON assignments(expires_at) WHERE status = 'open';
    CREATE INDEX assignments_project ON assignments(project_id, status);

    CREATE TABLE answers (
        id            INTEGER PRIMARY KEY,
        assignment_id INTEGER NOT NULL UNIQUE REFERENCES assignments(id),
        task_id       INTEGER NOT NULL REFERENCES tasks(id),
        worker_id     INTEGER NOT NULL REFERENCES workers(id),
        project_id    INTEGER NOT NULL REFERENCES projects(id),
        value         TEXT NOT NULL,
        seconds       REAL NOT NULL CHECK (seconds >= 0),
        created_at    TEXT NOT NULL
    );
    CREATE INDEX answers_project ON answers(project_id, created_at);
    CREATE INDEX answers_task ON answers(task_id);
    CREATE INDEX answers_worker ON answers(worker_id, created_at);

    CREATE TABLE ledger (
        id            INTEGER PRIMARY KEY,
        worker_id     INTEGER NOT NULL REFERENCES workers(id),
        amount        INTEGER NOT NULL,                -- minor units; negative for outflows
        kind          TEXT NOT NULL
                      CHECK (kind IN ('earning', 'bonus', 'deduction', 'payout', 'adjustment')),
        reason        TEXT NOT NULL,                   -- a message key the student can read
        reason_params TEXT NOT NULL DEFAULT '{}',      -- JSON values for that message
        answer_id     INTEGER REFERENCES answers(id),
        status        TEXT NOT NULL DEFAULT 'pending'
                      CHECK (status IN ('pending', 'approved', 'reversed')),
        created_at    TEXT NOT NULL
    );
    CREATE INDEX ledger_worker ON ledger(worker_id, created_at);
    CREATE UNIQUE INDEX ledger_one_earning ON ledger(answer_id) WHERE kind = 'earning';

    CREATE TABLE pending_files (
        id         INTEGER PRIMARY KEY,
        admin_id   INTEGER NOT NULL,
        file_id    TEXT NOT NULL,
        file_name  TEXT NOT NULL,
        file_size  INTEGER,
        created_at TEXT NOT NULL
    );
    """,
    # 2: money students can trust (ledger, payouts, disputes), settings, outbox, summaries
    """
    ALTER TABLE projects ADD COLUMN approve_hours INTEGER NOT NULL DEFAULT 24
        CHECK (approve_hours >= 0);

    ALTER TABLE workers ADD COLUMN quiet_start INTEGER;  -- minutes after local midnight
    ALTER TABLE workers ADD COLUMN quiet_end INTEGER;    -- NULL: no quiet hours

    CREATE TABLE payouts (
        id           INTEGER PRIMARY KEY,
        worker_id    INTEGER NOT NULL REFERENCES workers(id),
        amount       INTEGER NOT NULL CHECK (amount > 0),
        reference    TEXT NOT NULL UNIQUE,
        period_start TEXT NOT NULL,
        period_end   TEXT NOT NULL,
        answers      INTEGER NOT NULL,
        created_by   INTEGER NOT NULL,
        created_at   TEXT NOT NULL
    );
    CREATE INDEX payouts_worker ON payouts(worker_id, id);

    -- Which payout settled an entry: an entry is paid out once, never twice.
    ALTER TABLE ledger ADD COLUMN payout_id INTEGER REFERENCES payouts(id);
    ALTER TABLE ledger ADD COLUMN task_id INTEGER REFERENCES tasks(id);
    ALTER TABLE ledger ADD COLUMN created_by INTEGER;    -- the admin, for manual entries
    ALTER TABLE ledger ADD COLUMN approved_at TEXT;
    CREATE INDEX ledger_unpaid ON ledger(worker_id)
        WHERE status = 'approved' AND payout_id IS NULL;
    CREATE INDEX ledger_pending ON ledger(created_at) WHERE status = 'pending';

    CREATE TABLE disputes (
        id          INTEGER PRIMARY KEY,
        ledger_id   INTEGER NOT NULL UNIQUE REFERENCES ledger(id),
        worker_id   INTEGER NOT NULL REFERENCES workers(id),
        status      TEXT NOT NULL DEFAULT 'open'
                    CHECK (status IN ('open', 'upheld', 'refunded')),
        created_at  TEXT NOT NULL,
        resolved_by INTEGER,
        resolved_at TEXT
    );

    -- Every notification goes out through here, so a crash mid-broadcast resumes without
    -- sending anybody a second copy (dedupe_key is unique per logical message).
    CREATE TABLE outbox (
        id           INTEGER PRIMARY KEY,
        chat_id      INTEGER NOT NULL,
        kind         TEXT NOT NULL,        -- broadcast, alert, summary, payout, dispute, ...
        dedupe_key   TEXT NOT NULL UNIQUE,
        payload      TEXT NOT NULL,        -- JSON: text, buttons, photo
        status       TEXT NOT NULL DEFAULT 'pending'
                     CHECK (status IN ('pending', 'sending', 'sent', 'failed', 'unknown')),
        attempts     INTEGER NOT NULL DEFAULT 0,
        not_before   TEXT NOT NULL,
        created_at   TEXT NOT NULL,
        sent_at      TEXT,
        error        TEXT
    );
    CREATE INDEX outbox_due ON outbox(not_before, id) WHERE status = 'pending';

    -- New-task alerts: the last one per project and student, to space them out.
    CREATE TABLE alerts_sent (
        project_id INTEGER NOT NULL REFERENCES projects(id),
        worker_id  INTEGER NOT NULL REFERENCES workers(id),
        sent_at    TEXT NOT NULL,
        PRIMARY KEY (project_id, worker_id)
    );
    """,
    # 3: quality control: control (gold) tasks, rules with readable reasons, fair share
    """
    -- Control tasks (a gold answer) form their own pool: mixed into each student's stream at
    -- the project's gold_share, never counted toward overlap, each shown to a student once.
    DROP INDEX tasks_open;
    CREATE INDEX tasks_open ON tasks(project_id, id) WHERE status = 'open' AND gold IS NULL;
    CREATE INDEX tasks_gold ON tasks(project_id, id) WHERE status = 'open' AND gold IS NOT NULL;

    ALTER TABLE tasks ADD COLUMN explanation TEXT;

    ALTER TABLE projects ADD COLUMN gold_share REAL NOT NULL DEFAULT 0.1
        CHECK (gold_share >= 0 AND gold_share <= 1);
    -- Rules: accuracy on the last N control tasks below a threshold suspends for a time;
    -- answers faster than min_seconds + text length / read_chars_per_second are held for
    -- review; max_skips skips in a row pause the student for skip_pause_minutes.
    ALTER TABLE projects ADD COLUMN rule_gold_window INTEGER NOT NULL DEFAULT 10;
    ALTER TABLE projects ADD COLUMN rule_gold_min_accuracy REAL NOT NULL DEFAULT 0.7;
    ALTER TABLE projects ADD COLUMN rule_suspend_hours INTEGER NOT NULL DEFAULT 24;
    ALTER TABLE projects ADD COLUMN min_seconds REAL NOT NULL DEFAULT 1.0;
    ALTER TABLE projects ADD COLUMN read_chars_per_second REAL NOT NULL DEFAULT 40.0;
    ALTER TABLE projects ADD COLUMN max_skips INTEGER NOT NULL DEFAULT 5;
    ALTER TABLE projects ADD COLUMN skip_pause_minutes INTEGER NOT NULL DEFAULT 10;
    ALTER TABLE projects ADD COLUMN allocation TEXT NOT NULL DEFAULT 'fair'
        CHECK (allocation IN ('fair', 'fifo'));
    ALTER TABLE projects ADD COLUMN daily_cap INTEGER;   -- answers per student per day
    -- Adaptive overlap: a task whose answers disagree gets one more, up to this many.
    ALTER TABLE projects ADD COLUMN max_overlap INTEGER;

    -- review: NULL (nothing to review), 'flagged' (held), 'accepted', 'rejected'
    ALTER TABLE answers ADD COLUMN review TEXT;
    ALTER TABLE answers ADD COLUMN review_rule TEXT;
    ALTER TABLE answers ADD COLUMN correct INTEGER;      -- on control tasks: 1 or 0
    CREATE INDEX answers_flagged ON answers(project_id, id) WHERE review = 'flagged';
    CREATE INDEX answers_gold ON answers(worker_id, project_id, id) WHERE correct IS NOT NULL;
    CREATE INDEX answers_worker_project ON answers(worker_id, project_id, created_at);
    CREATE INDEX assignments_recent ON assignments(project_id, issued_at, worker_id);

    -- A student's standing in one project: suspended or paused until a time, and why.
    CREATE TABLE standings (
        worker_id     INTEGER NOT NULL REFERENCES workers(id),
        project_id    INTEGER NOT NULL REFERENCES projects(id),
        blocked_until TEXT,
        rule          TEXT,
        rule_params   TEXT NOT NULL DEFAULT '{}',
        skips_in_row  INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (worker_id, project_id)
    );
    """,
    # 4: every task type: A/B comparisons shown in a random order, comments
    """
    -- For A/B comparisons: the order the two answers were shown in ('ab' or 'ba'), so the
    -- stored answer is in terms of the original a/b and position bias can be measured.
    ALTER TABLE assignments ADD COLUMN shown_order TEXT;
    ALTER TABLE answers ADD COLUMN shown_order TEXT;
    ALTER TABLE answers ADD COLUMN comment TEXT;
    """,
    # 5: multi-label choices, free-text corrections and comments
    """
    -- Multi-label: the options ticked so far, as bits (option i is 1 << i).
    ALTER TABLE assignments ADD COLUMN draft INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE projects ADD COLUMN allow_none INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE projects ADD COLUMN comments TEXT NOT NULL DEFAULT 'off'
        CHECK (comments IN ('off', 'optional'));
    -- What a student's next text message is for: a correction of an assignment's text, or
    -- a comment on an answer. One at a time per student.
    CREATE TABLE inputs (
        worker_id  INTEGER PRIMARY KEY REFERENCES workers(id),
        kind       TEXT NOT NULL CHECK (kind IN ('correction', 'comment')),
        ref_id     INTEGER NOT NULL,
        created_at TEXT NOT NULL
    );
    """,
    # 6: an example image in a project's Guide
    """
    ALTER TABLE projects ADD COLUMN example_file_id TEXT;  -- Telegram file_id of a photo
    """,
    # 7: privacy: a per-database secret for the pseudonymous student ids in exports
    """
    -- Random values made once per database (e.g. 'pseudonym': the HMAC key that turns a
    -- student's id into the stable pseudonym exports show). Never exported.
    CREATE TABLE secrets (
        name  TEXT PRIMARY KEY,
        value TEXT NOT NULL
    );
    """,
    # 8: invite-only access: invite links, and a student limited to one project
    """
    -- An invite link's code (the ?start= parameter). project_id: the project the student
    -- is limited to, or NULL for any. Ended by running out of uses, expiring or revoking.
    CREATE TABLE invites (
        code        TEXT PRIMARY KEY,
        project_id  INTEGER REFERENCES projects(id),
        uses        INTEGER NOT NULL CHECK (uses >= 1),
        uses_left   INTEGER NOT NULL CHECK (uses_left >= 0),
        expires_at  TEXT NOT NULL,
        created_by  INTEGER NOT NULL,
        created_at  TEXT NOT NULL,
        revoked_at  TEXT
    );
    -- The one project a student may work on (from their invite link), or NULL for all.
    ALTER TABLE workers ADD COLUMN project_id INTEGER REFERENCES projects(id);
    -- Who came in through which link.
    ALTER TABLE workers ADD COLUMN invite_code TEXT;
    """,
    # 9: roles kept in the database: admins and reviewers (owners are the config's admin_ids)
    """
    CREATE TABLE roles (
        user_id    INTEGER PRIMARY KEY,               -- Telegram user id
        role       TEXT NOT NULL CHECK (role IN ('admin', 'reviewer')),
        granted_by INTEGER NOT NULL,
        granted_at TEXT NOT NULL
    );
    -- Every /role change: who made it, whose role, from what to what (NULL: none), when.
    CREATE TABLE role_changes (
        id         INTEGER PRIMARY KEY,
        changed_by INTEGER NOT NULL,
        user_id    INTEGER NOT NULL,
        old_role   TEXT,
        new_role   TEXT,
        changed_at TEXT NOT NULL
    );
    """,
    # 10: an admin's money command is recorded once, however often its update arrives
    """
    -- The command that made a manual entry ('<chat id>:<message id>' of a /bonus or
    -- /deduct): Telegram re-delivers an update after a crash, and the same message must
    -- not pay or deduct twice. NULL for entries no command made.
    ALTER TABLE ledger ADD COLUMN request TEXT;
    CREATE UNIQUE INDEX ledger_request ON ledger(request) WHERE request IS NOT NULL;
    """,
]
