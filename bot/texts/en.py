"""English messages. zh.py has the same keys (a test checks)."""

MESSAGES: dict[str, str] = {
    # students
    "welcome": (
        "Hi {name}! 👋 Welcome to Labelgram.\n\n"
        "You get short labeling tasks here and earn {currency} for every accepted answer. "
        "One tap answers a task; the next one appears right away.\n\n"
        "Tap the button below to begin, or send /help to see all commands."
    ),
    "welcome_back": "Welcome back, {name}! Tap below to continue labeling.",
    "btn_start": "▶️ Start labeling",
    "btn_skip": "Skip ⏭",
    "btn_check_again": "🔄 Check again",
    "help": (
        "Labelgram commands:\n"
        "/next — get a task\n"
        "/balance — what you have earned, waiting and paid out\n"
        "/history — every entry with its reason; dispute a deduction\n"
        "/me — your accuracy on control tasks and your speed\n"
        "/privacy — what is stored about you and why; /forget_me — erase it\n"
        "/settings — alerts, quiet hours, time zone, language\n"
        "/language — switch between English and 中文\n"
        "/help — this list\n\n"
        "Tap an answer button to answer; the next task replaces it in the same message. "
        "“Skip” passes a task on without penalty. "
        "Each task is held for you for {lease} minutes."
    ),
    "help_admin": (
        "\n\nAdmin commands:\n"
        "/upload <project> [key=value …] — as the caption of a CSV, JSONL or JSON file\n"
        "/projects — all projects with progress\n"
        "/stats <project> — progress, active students, answers per option\n"
        "/pause <project>, /resume <project>\n"
        "/export <project> [labelstudio] — answers as CSV and JSONL, plus aggregated labels "
        "(or in Label Studio's JSON format)\n"
        "/review <project> — answers held by a rule: accept or reject\n"
        "/guide <project> <instructions> — the Guide (an example photo: as its caption)\n"
        "/invite [uses] [project] [days], /invites, /revoke <code> — invite links\n"
        "/role <student> admin|reviewer|none — owners give roles (reviewers: /review, /stats)\n"
        "/workers <project> — students' answers, accuracy, speed; /ban, /unban <student>\n"
        "/bonus, /deduct <student> <amount> <reason>; /approve [project]\n"
        "/payout <student|all>, /payouts, /export_payouts; /broadcast <text>\n\n"
        "Upload keys: type=label|rating, options=a,b,c, scale=1-5, price=0.05, overlap=2, "
        'lease=10 (minutes), instructions="…".'
    ),
    "task_header": "📝 {project} · {price} per answer",
    "task_header_free": "📝 {project}",
    "task_prompt_label": "Choose the label that fits best.",
    "task_prompt_rating": "Rate it from {low} (lowest) to {high} (highest).",
    "saved_line": "✓ Saved: {value} · +{amount}",
    "saved_line_free": "✓ Saved: {value}",
    "skipped_line": "⏭ Skipped.",
    "toast_saved": "Saved · +{amount}",
    "toast_saved_free": "Saved",
    "toast_skipped": "Skipped",
    "no_tasks": (
        "That's everything for now — no tasks are waiting for you. 🎉\n"
        "I'll message you as soon as new tasks arrive."
    ),
    "task_moved": "↓ This task moved to a new message below.",
    "refused_not_found": "This task doesn't exist. Nothing was recorded.",
    "refused_not_yours": "This button belongs to someone else's task. Nothing was recorded.",
    "refused_answered": "You already answered this task; it was saved once.",
    "refused_skipped": "You skipped this task earlier. Nothing was recorded.",
    "refused_expired": (
        "Time ran out for this task, so it went back to the pool. Nothing was recorded."
    ),
    "refused_withdrawn": "The project team withdrew this task. Nothing was recorded.",
    "refused_paused": (
        "This project is paused. Nothing was recorded; you'll hear when it resumes."
    ),
    "refused_bad_option": "That isn't one of this task's answers. Nothing was recorded.",
    "refused_not_active": "Your account can't take tasks right now.",
    "bad_button": "This button is out of date. Send /next for a fresh task.",
    "language_prompt": "Choose your language:",
    "language_set": "Language set to English.",
    "saved_not_shown": "Saved. Something went wrong on our side while showing the result; there is no need to send it again.",
    "try_again": "Sorry, something went wrong on our side and nothing was saved. Please try again.",
    "not_allowed": "Sorry, only project admins can do that.",
    "not_registered": "Please send /start first.",
    "role_usage": "Usage: /role <user id or @username> admin|reviewer|none",
    "role_unknown_user": "No user {user} is known to the bot; use their Telegram id.",
    "role_owner_fixed": "{user} is an owner (set in the config); owners can't be changed here.",
    "role_changed": "Role of {user} changed: {old} → {new}.",
    "role_unchanged": "{user} already has the role {role}; nothing changed.",
    # admins: uploads
    "upload_usage": (
        "Send the task file with the caption:\n"
        "/upload <project> [type=label|rating] [options=a,b,c] [scale=1-5] [price=0.05] "
        '[overlap=1] [lease=10] [instructions="…"]\n\n'
        "Files: CSV (column text; optional id, gold), JSONL with the same keys, "
        "or a Label Studio JSON task list."
    ),
    "upload_which_project": "Which project is {file} for?",
    "upload_older_projects": (
        "{hidden} older project(s) are not listed; for one of those, send the file again "
        "with the caption /upload <project>."
    ),
    "upload_new_project_hint": (
        "For a new project, send the file again with the caption "
        "/upload <name> options=a,b,c (or type=rating)."
    ),
    "btn_cancel": "Cancel",
    "upload_cancelled": "Upload cancelled. Nothing was imported.",
    "upload_gone": "That file is no longer waiting for a project. Please send it again.",
    "upload_too_big": (
        "{file} is {size} MB, but Telegram lets bots download files of at most 20 MB. "
        "Please split it into smaller files. Nothing was imported."
    ),
    "upload_too_big_unknown": (
        "{file} is larger than 20 MB, but Telegram lets bots download files of at most 20 MB. "
        "Please split it into smaller files. Nothing was imported."
    ),
    "upload_not_a_file": "Please send the tasks as a file (document), not as a photo or text.",
    "upload_started": "⏳ Importing {file}…",
    "upload_progress": "⏳ Importing {file}: {done} of {total} rows…",
    "upload_done": "✅ {project}: {added} tasks added, {skipped} skipped (their id is already in the project).",
    "upload_project_created": (
        "New project {project}: {type}, answers: {options}; {price} per answer, "
        "{overlap} answer(s) per task, tasks held for {lease} min."
    ),
    "upload_settings_changed": "Settings changed: {keys}.",
    "upload_predictions_dropped": (
        "ℹ️ {count} prediction(s) left out: the file lists them by Label Studio id only (its default "
        "JSON export), without their results. To keep them, export from Label Studio with full "
        "predictions (predictions only_id=false) and upload that file."
    ),
    "upload_rejected": "❌ Nothing was imported from {file}. {count} problem(s):",
    "upload_problem_line": "• {where}: {message}",
    "upload_problem_file": "• {message}",
    "upload_more_problems": "…and {more} more.",
    "where_line": "line {n}",
    "where_item": "item {n}",
    "upload_same_file": (
        "This exact file was already imported into {project}. Nothing was imported again."
    ),
    "upload_download_failed": "I couldn't download {file} from Telegram. Please send it again.",
    "type_label": "labels",
    "type_rating": "rating",
    # file problems (codes from bot.importing and the upload service)
    "err_empty_file": "the file is empty",
    "err_bad_encoding": "the file is not text in an encoding I can read; save it as UTF-8, or name its encoding with encoding=… in the caption",
    "err_not_given_encoding": "line {line} is not {encoding} text, the encoding the caption names; name another one, or leave encoding= out and I will work it out",
    "err_not_bom_encoding": "the file starts with a {encoding} byte order mark, but line {line} is not {encoding} text; save it again as UTF-8",
    "err_unsure_encoding": "I can't tell which encoding this file is in. Line {line} reads like this in each one it could be:\n{readings}\nIf one of them reads right, send the file again with it in the caption, for example /upload <project> encoding={example}",
    "err_duplicate_column": "two columns are both called “{column}”",
    "err_no_header": "the CSV file has no header row",
    "err_missing_column": "the required column “{column}” is missing",
    "err_too_many_columns": "more than {limit} columns",
    "err_json_invalid": "this is not valid JSON ({detail})",
    "err_json_not_array": "a JSON file must hold a list of tasks ([ … ])",
    "err_no_rows": "the file has no tasks",
    "err_too_many_errors": "too many problems; only the first {count} were checked",
    "err_empty_value": "“{column}” is empty",
    "err_line_not_json": "not a JSON object ({detail})",
    "err_row_not_object": "a task must be a JSON object with keys",
    "err_bad_value_type": "“{column}” must be text or a number",
    "err_duplicate_id": "id “{id}” appears twice in the file (first at {first_line})",
    "err_field_too_long": "“{column}” is longer than {limit} characters",
    "err_nul_character": "contains a NUL character",
    "err_extra_fields": "more cells than the header has columns",
    "err_csv_malformed": "the CSV is malformed here ({detail})",
    "err_gold_not_option": "gold answer “{value}” is not one of the options ({options})",
    # admins: the /upload caption
    "arg_missing_project": "Please name the project: /upload <project> [key=value …]",
    "arg_bad_project_name": (
        "A project name is 1–40 letters, digits, “-” or “_”, without spaces: “{name}” is not."
    ),
    "arg_unknown_key": "Unknown setting “{key}”. Known: {known}.",
    "arg_not_key_value": "“{arg}” is not a key=value setting.",
    "arg_bad_type": "type must be label, rating, pairwise, multilabel, correction or image, not “{value}”.",
    "arg_bad_price": "price must be an amount like 0.05 (at most {digits} decimals), not “{value}”.",
    "arg_bad_int": "{key} must be a whole number from {low} to {high}, not “{value}”.",
    "arg_bad_scale": "scale must look like 1-5 (2 to 10 steps), not “{value}”.",
    "arg_options_required": "A label project needs its answers: options=a,b,c (at least 2).",
    "arg_bad_options": (
        "options must be 2–20 different labels separated by commas, each at most 40 characters."
    ),
    "arg_locked_after_answers": (
        "{key} can't change once {project} has answers (they would lose their meaning)."
    ),
    "arg_bad_quotes": "The caption has an unclosed quote.",
    "arg_bad_encoding": "“{value}” is not a text encoding I know. Try utf-8, gbk, gb18030, big5, cp1252, latin-1 or utf-16.",
    # admins: projects
    "projects_empty": "No projects yet. Send a file with the caption /upload <name> to start one.",
    "projects_title": "Projects:",
    "projects_line": "{icon} {name} — {done}/{needed} answers ({pct}%), {tasks} tasks",
    "status_active": "active",
    "status_paused": "paused",
    "status_closed": "closed",
    "stats": (
        "📊 {name} ({status})\n"
        "{bar} {pct}%\n"
        "Answers: {done} / {needed}\n"
        "Tasks: {tasks} · being answered now: {in_flight}\n"
        "Active students today: {active}\n"
        "{price} per answer · {overlap} answer(s) per task"
    ),
    "stats_options_title": "Answers per option:",
    "stats_option_line": "• {value}: {count}",
    "stats_no_answers": "No answers yet.",
    "usage_project": "Usage: /{command} <project>",
    "unknown_project": "There is no project called “{name}”. /projects lists them.",
    "paused_ok": "⏸ {name} is paused. Tasks in students' hands were taken back.",
    "resumed_ok": "▶️ {name} is active again.",
    "already_paused": "{name} is already paused.",
    "already_active": "{name} is already active.",
    "export_caption": "{name}: {rows} answers ({file_format})",
    "export_empty": "{name} has no answers yet, so there is nothing to export.",
    # command menu
    "cmd_next": "Get a task",
    "cmd_help": "All commands",
    "cmd_language": "English / 中文",
    "cmd_start": "Start",
    # money: students
    "balance": (
        "💰 Your balance\n"
        "Available to pay out: {available}\n"
        "Waiting for approval: {pending}\n"
        "Paid out so far: {paid_out}\n\n"
        "Where it comes from:\n"
        "Answers: {earned}\n"
        "Bonuses: {bonuses}\n"
        "Deductions: {deductions}\n"
        "Refunds and corrections: {adjustments}\n"
        "Total: {total} = available + waiting + paid out"
    ),
    "balance_pending_note": "Earnings are approved automatically {hours} h after the answer.",
    "history_title": "🧾 Your history, page {page} of {pages}:",
    "history_empty": "Nothing here yet. Your earnings will appear after your first answer.",
    "history_line": "{when} · {amount} · {what} · {status}",
    "entry_status_pending": "⏳ waiting for approval",
    "entry_status_approved": "✓ approved",
    "entry_status_paid": "💸 paid out",
    "entry_status_reversed": "↩ reversed",
    "entry_status_payout": "💸 sent",
    "reason_earning_answer": "answer to task {task} in {project}",
    "reason_bonus_manual": "bonus: {text}",
    "reason_deduction_manual": "deduction: {text}",
    "reason_payout_sent": "payout {reference}",
    "reason_adjustment_refund": "refund of disputed entry #{entry}",
    "dispute_open_suffix": " (disputed: {status})",
    "dispute_status_open": "under review",
    "dispute_status_upheld": "upheld",
    "dispute_status_refunded": "refunded",
    "btn_prev": "◀",
    "btn_next": "▶",
    "btn_dispute": "⚖️ Dispute #{id}",
    "dispute_sent": "Your dispute about entry #{id} ({amount}) went to the project team. You'll get the answer here.",
    "dispute_not_disputable": "Only your own deductions can be disputed.",
    "dispute_already": "You already disputed this entry.",
    "notice_bonus": "🎁 Bonus {amount}: {reason}",
    "notice_deduction": (
        "➖ Deduction {amount}: {reason}\n"
        "If you think this is wrong, tap Dispute and the project team will review it."
    ),
    "notice_payout": (
        "💸 Payment sent: {amount}\n"
        "For {answers} answer(s) from {start} to {end}.\n"
        "Reference: {reference}"
    ),
    "notice_refund": "✅ Your dispute about entry #{id} was accepted: {amount} refunded.",
    "notice_upheld": (
        "Your dispute about entry #{id} was reviewed; the deduction of {amount} stands "
        "(reason: {reason})."
    ),
    # money: admins
    "usage_bonus": "Usage: /bonus <student id or @username> <amount> <reason>",
    "usage_deduct": "Usage: /deduct <student id or @username> <amount> <reason>",
    "usage_payout": "Usage: /payout <student id or @username | all>",
    "money_no_student": "There is no student “{ref}”.",
    "money_bad_amount": "“{value}” is not an amount like 0.50.",
    "money_no_reason": "Please add a reason the student can read.",
    "bonus_done": "🎁 Bonus of {amount} for {student} recorded (entry #{id}). They will be told.",
    "deduct_done": "➖ Deduction of {amount} for {student} recorded (entry #{id}). They will be told and can dispute it.",
    "approve_done": "✓ {count} earning(s) approved.",
    "payout_none": "Nothing to pay out: no approved, unpaid balance.",
    "payout_done": "💸 Paid {count} student(s), {total} in all:",
    "payout_line": "• {reference} · {student} · {amount} · {answers} answer(s)",
    "payouts_empty": "No payouts yet.",
    "payouts_title": "Recent payouts:",
    "payouts_line": "• {when} · {reference} · {student} · {amount} · {answers} answer(s)",
    "export_payouts_caption": "{rows} payout(s)",
    "dispute_admin": (
        "⚖️ Dispute #{id} from {name} ({student}):\n{amount} — {reason}\nMade on {when}."
    ),
    "btn_uphold": "Uphold",
    "btn_refund": "Refund",
    "dispute_resolved_refunded": "Dispute #{id}: refunded {amount}. The student was told.",
    "dispute_resolved_upheld": "Dispute #{id}: deduction upheld. The student was told.",
    "dispute_gone": "This dispute was already resolved.",
    # summaries
    "summary_title_daily": "📅 Your day, {date}",
    "summary_title_weekly": "📅 Your week, {start} to {end}",
    "summary_answers": "Answers: {answers} · earned {earned}",
    "summary_week_total": "This week: {answers} answers · earned {earned}",
    "summary_today": "Today: {answers} answers · earned {earned}",
    "summary_hourly": "Time on tasks: {minutes} min → {hourly} per hour",
    "summary_accuracy": "Accuracy on control tasks: {pct}% ({correct} of {total})",
    "summary_balance": "Balance: {available} available · {pending} waiting for approval",
    # settings
    "settings": (
        "⚙️ Settings\n"
        "New-task alerts: {alerts}\n"
        "Quiet hours (no alerts or summaries): {quiet}\n"
        "Time zone: {timezone} (your time now: {local})\n"
        "Language: {language}"
    ),
    "settings_on": "on",
    "settings_off": "off",
    "settings_quiet_off": "none",
    "settings_quiet_prompt": "Choose your quiet hours. Messages that fall in them wait until they end.",
    "settings_zone_prompt": "Choose your time zone (or send /timezone Area/City for any other):",
    "settings_saved": "Saved",
    "settings_bad_zone": "“{name}” is not a time zone I know. Example: /timezone Europe/Paris",
    "settings_zone_set": "Time zone set to {timezone}.",
    "btn_alerts_on": "🔔 Turn alerts on",
    "btn_alerts_off": "🔕 Turn alerts off",
    "btn_quiet": "🌙 Quiet hours",
    "btn_timezone": "🕒 Time zone",
    "btn_back": "◀ Back",
    "cmd_settings": "Alerts, quiet hours, time zone",
    "cmd_balance": "Your balance",
    "cmd_history": "Your earnings history",
    # outbox: broadcasts and new-task alerts
    "broadcast_usage": (
        "Usage: /broadcast <text>\n"
        "Sends the text to every active student (not to those who blocked the bot)."
    ),
    "broadcast_queued": (
        "📢 Queued for {count} student(s). Messages go out under Telegram's limits, "
        "so the last one arrives in about {seconds} s; students in their quiet hours get it "
        "when those end."
    ),
    "broadcast_nobody": "There is nobody to send it to (or this broadcast was queued already).",
    "broadcast_message": "📢 {text}",
    "alert_new_tasks": "🆕 New tasks in {project}. Tap below to start labeling.",
    # quality rules: what fired, the numbers behind it, how it ends
    "rule_wrong_gold": "✗ That was a control task: the right answer is “{right}”. {explanation}",
    "rule_too_fast": (
        "⏱ Held for review (rule: too fast): you answered in {seconds} s, but reading "
        "{chars} characters takes at least {minimum} s. Its {amount} waits until a reviewer "
        "looks at it."
    ),
    "rule_accuracy": (
        "⛔ Paused from {project} until {until} (rule: accuracy): on your last {total} "
        "control tasks you got {correct} right ({pct}%), and this project needs {threshold}%."
    ),
    "rule_skips": (
        "☕ You skipped {skips} tasks in a row, so take a short break (rule: skips). "
        "{project} opens again for you at {until}."
    ),
    "hold_accuracy": (
        "{project}: paused for you until {until}; accuracy on your last {total} control "
        "tasks was {pct}%, below {threshold}%."
    ),
    "hold_skips": "{project}: a short break after {skips} skips in a row, until {until}.",
    "hold_paused": "{project}: paused for you until {until}.",
    "hold_daily_cap": (
        "{project}: you reached the limit of {cap} answers in 24 hours; more from {until}."
    ),
    "hold_fair_share": (
        "{project}: you have had your fair share for now ({mine} answers in the last 24 h; "
        "{left} answers left for {students} students). More opens up as others finish."
    ),
    "held_title": "Why there is no task for you right now:",
    "arg_bad_number": "{key} must be a number from {low} to {high}, not “{value}”.",
    "arg_bad_allocation": "allocation must be fair or fifo, not “{value}”.",
    # quality: admins and /me
    "review_empty": "Nothing to review in {project}. 👍",
    "review_item": (
        "🔎 {project}: {waiting} answer(s) held for review\n"
        "Task {task}, student {student}\n"
        "Answer: {value} · {seconds} s · rule: {rule}\n\n"
        "{text}"
    ),
    "btn_accept": "✓ Accept",
    "btn_reject": "✗ Reject",
    "review_accepted": "Accepted: its earning will be approved as usual.",
    "review_rejected": "Rejected: a deduction naming the task and rule was written.",
    "review_gone": "That answer was already reviewed.",
    "reason_deduction_review": "answer to task {task} in {project} rejected in review (rule: {rule})",
    "workers_empty": "Nobody has answered in {project} yet.",
    "workers_title": "👥 {project}: {count} student(s) (answers · control accuracy · median s · held · status)",
    "workers_line": "• {student} {name}: {answers} · {accuracy} of {gold} · {median} s · {flagged} · {status}",
    "worker_active": "active",
    "worker_suspended": "suspended",
    "worker_banned": "banned",
    "worker_blocked": "blocked the bot",
    "worker_paused": "paused until {until} (rule: {rule})",
    "usage_student": "Usage: /{command} <student id or @username>",
    "banned_ok": "⛔ {student} is banned: no more tasks, and their buttons are refused.",
    "unbanned_ok": "✓ {student} may take tasks again; rule pauses were lifted.",
    "me_empty": "You have not answered any tasks yet. Send /next to start.",
    "me_title": "📈 Your record (answers · accuracy on control tasks · seconds per answer):",
    "me_line": "• {project}: {answers} · {accuracy} ({correct} of {gold}) · {median} s",
    "cmd_me": "Your accuracy and speed",
    "stats_quality": "Agreement (Krippendorff's alpha, {level}): {alpha} · control tasks: {controls}",
    "export_aggregated_caption": "{name}: {rows} tasks aggregated (majority vote and Dawid-Skene); alpha {alpha} ({level})",
    "export_working": "⏳ Exporting {name}: building the files… Students can keep labeling meanwhile.",
    "export_done": "✅ Export of {name} ready: {files} file(s) below.",
    "export_failed": "❌ The export of {name} failed, sorry. Nothing was changed; please try again in a minute.",
    "export_aggregated_caption_multilabel": "{name}: {rows} tasks aggregated (the labels ticked in more than half of the answers); alpha {alpha} ({level})",
    "export_aggregated_caption_correction": "{name}: {rows} tasks aggregated (unchanged vs corrected, and the most common correction); alpha {alpha} ({level})",
    "ds_not_converged": "⚠️ Dawid-Skene did not converge within {rounds} rounds: its labels may still change, so rely on the majority vote.",
    "usage_approve": "Usage: /approve <project | student id or @username | all>",
    "settings_zone_usage": "Send your time zone as Area/City, e.g. /timezone Asia/Shanghai, or pick one in /settings.",
    # every task type
    "type_pairwise": "A/B comparison",
    "pair_prompt": "❓ Prompt:",
    "pair_first": "🅰 Answer A:",
    "pair_second": "🅱 Answer B:",
    "task_prompt_pairwise": "Which answer is better?",
    "btn_pair_first": "A is better",
    "btn_pair_second": "B is better",
    "btn_pair_tie": "Tie",
    "btn_pair_both_bad": "Both bad",
    "task_page": "— page {page} of {pages}: ◀ ▶ below —",
    "btn_guide": "📖 Guide",
    "guide_title": "📖 How to label {project}:",
    "btn_back_to_task": "◀ Back to the task",
    "stats_position": "A/B position: the answer shown first won {first} of {decisive} decisive votes ({pct}%).",
    "type_multilabel": "multiple labels",
    "type_correction": "text correction",
    "task_prompt_multilabel": "Tick every label that fits, then tap Done.",
    "task_prompt_correction": "Is the text correct? If not, tap ✏️ and send the corrected text.",
    "btn_no_correction": "✓ No correction needed",
    "btn_correct": "✏️ Correct it",
    "btn_done": "✅ Done",
    "btn_none_of_these": "None of these",
    "btn_comment": "💬 Comment on my last answer",
    "ask_correction": "Send the corrected text as your next message (the text is below to copy):",
    "placeholder_correction": "The corrected text",
    "ask_comment": "Send your comment on your last answer as your next message:",
    "placeholder_comment": "Your comment",
    "text_not_expected": "Please use the buttons under a task, or send /next for one.",
    "comment_saved": "💬 Comment saved with your answer.",
    "refused_nothing_chosen": "Tick at least one label first (or choose “None of these” if it is offered). Nothing was recorded.",
    "arg_bad_choice": "{key} must be one of {choices}, not “{value}”.",
    "task_suggestion": "💡 Suggested: {value}",
    "export_ls_caption": "{name}: {tasks} tasks with their answers in Label Studio's JSON format",
    "balance_held_note": "{amount} of it is held for review by a rule: it is approved once a reviewer accepts it.",
    # image tasks and zips of images
    "type_image": "image labels",
    "task_prompt_image": "Look at the picture and choose the label that fits best.",
    "arg_zip_needs_image": (
        "A zip is for image projects: /upload <project> type=image options=a,b with one "
        "CSV/JSONL tasks file and the images it names inside."
    ),
    "err_zip_invalid": "this is not a zip I can read (damaged, encrypted or an unknown compression)",
    "err_zip_too_many_files": "the zip holds {count} files; at most {limit} are allowed",
    "err_zip_bad_name": "“{name}” is not a safe file name inside a zip (“..” or an absolute path)",
    "err_zip_member_too_big": "“{name}” is bigger than {limit} MB once unpacked",
    "err_zip_too_big": "the zip unpacks to more than {limit} MB",
    "err_zip_bomb": "“{name}” unpacks to more than {limit} times its packed size (a zip bomb?)",
    "err_zip_tasks_file_count": (
        "a zip must hold exactly one tasks file (.csv, .tsv, .jsonl or .json); this one has {count}"
    ),
    "err_image_missing": "the image “{name}” is not in the zip",
    "err_image_not_url": (
        "“{name}” is not an https:// link; to use image files, send them in a zip with the tasks file"
    ),
    "err_image_upload_failed": "Telegram did not accept “{name}” as a photo",
    "usage_guide": "Usage: /guide <project> <instructions>, or send an example photo with the caption /guide <project> [instructions].",
    "guide_set": "📖 The Guide of {project} is updated; students see it under every task.",
    # privacy: /privacy and /forget_me
    "privacy_info": (
        "🔒 Your data in Labelgram\n\n"
        "What is stored, and why:\n"
        "• Your Telegram id, first name and username: to know who you are, send you tasks and pay you.\n"
        "• Your language, time zone and settings (alerts, quiet hours): to write to you in your language and not at night.\n"
        "• Every answer you give, with when you gave it and how many seconds it took: this is the labeling work the team pays for; the timing is used for quality checks.\n"
        "• The ledger: every earning, bonus, deduction and payout with its reason, so your pay is correct and can be checked (/balance, /history).\n\n"
        "What the team's admins see: your Telegram id, name and username, your answers, your accuracy and speed (/me shows you the same), your balance and your payouts. "
        "Exported answer files never contain your name, username or Telegram id, only a pseudonymous id (like s-1a2b3c4d5e).\n\n"
        "How long: while you work with the team, and after that as long as the team needs the payment records for its accounts.\n\n"
        "To erase it: /forget_me deletes your name, username and settings and detaches your Telegram id from your answers and payments. "
        "The answers and the money totals stay, anonymised, because the team paid for them. "
        "Money still owed to you must be paid out first."
    ),
    "forget_confirm": (
        "Erase your personal data?\n\n"
        "Your name, username and settings are deleted. Your answers and payments are kept only anonymously: "
        "nothing will link them to your Telegram account any more, so you will no longer see your history or be able to dispute anything. "
        "This cannot be undone."
    ),
    "forget_yes_button": "Yes, erase",
    "forget_cancel_button": "Cancel",
    "forget_cancelled": "Cancelled. Nothing was changed.",
    "forget_done": (
        "✅ Done. Your name, username and settings are deleted, and your answers and payments no longer link to your Telegram account. "
        "If you send /start again, you begin as a new student."
    ),
    "forget_owed": (
        "I can't erase your data yet: {total} is still owed to you ({pending} waiting for approval, {available} ready to pay out). "
        "Ask your coordinator to pay it out first (the team does this with /payout), then send /forget_me again. Nothing was changed."
    ),
    "forget_open_dispute": (
        "I can't erase your data yet: a dispute of yours is still waiting for a decision. "
        "Send /forget_me again once it is resolved. Nothing was changed."
    ),
    "forget_not_registered": "Nothing is stored about you: you have not registered with /start.",
    # access: invite-only mode and invite links
    "invite_only": (
        "Hi! 👋 This bot is invite-only. Please ask your coordinator for an invite link, "
        "then open it to join."
    ),
    "invite_invalid": (
        "Sorry, this invite link can't be used: it may have been used already, have expired "
        "or have been withdrawn. Please ask your coordinator for a new one."
    ),
    "invite_usage": (
        "Usage: /invite [uses] [project] [days], e.g. /invite 5 reviews 14. "
        "Defaults: 1 use, any project, 7 days. Uses: 1 to 10000; days: 1 to 365."
    ),
    "invite_unknown_project": "There is no project called {project}. Send /projects to see them.",
    "invite_created": "Invite link: {uses} use(s), {project}, expires {expires}.\n{link}",
    "invite_any_project": "any project",
    "invites_none": "No invite links are usable right now. Make one with /invite.",
    "invites_line": "{code} · {left}/{uses} uses left · {project} · expires {expires}",
    "revoke_usage": "Usage: /revoke <code> (the codes are listed by /invites).",
    "revoke_done": "Invite {code} is revoked: nobody can join with it any more.",
    "revoke_unknown": "No invite has the code {code}, or it was revoked already.",
    "export_identified_owners_only": "Only owners may export students' Telegram ids and names; other exports show pseudonyms.",
}
