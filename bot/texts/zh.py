"""简体中文消息。键与 en.py 相同（有测试检查）。"""

MESSAGES: dict[str, str] = {
    # students
    "welcome": (
        "你好，{name}！👋 欢迎使用 Labelgram。\n\n"
        "你会在这里收到简短的标注任务，每个被采纳的答案都能赚取{currency}。"
        "点一下按钮即可作答，下一题会立刻出现。\n\n"
        "点击下方按钮开始，或发送 /help 查看全部命令。"
    ),
    "welcome_back": "欢迎回来，{name}！点击下方按钮继续标注。",
    "btn_start": "▶️ 开始标注",
    "btn_skip": "跳过 ⏭",
    "btn_check_again": "🔄 再看看",
    "help": (
        "Labelgram 命令：\n"
        "/next — 领取任务\n"
        "/balance — 已赚、待审核和已发放的金额\n"
        "/history — 每一笔收支及原因；可对扣款申诉\n"
        "/me — 你的质检题正确率和速度\n"
        "/privacy — 我们存储了你的哪些信息及原因；/forget_me — 删除它们\n"
        "/settings — 提醒、免打扰时段、时区、语言\n"
        "/language — 切换 English / 中文\n"
        "/help — 本列表\n\n"
        "点击答案按钮作答，下一题会出现在同一条消息里。"
        "“跳过”可以放弃一道题，不会扣钱。"
        "每道题为你保留 {lease} 分钟。"
    ),
    "help_admin": (
        "\n\n管理员命令：\n"
        "/upload <项目> [键=值 …] — 作为 CSV、JSONL 或 JSON 文件的说明文字发送\n"
        "/projects — 所有项目及进度\n"
        "/stats <项目> — 进度、活跃学生、各选项答案数\n"
        "/pause <项目>、/resume <项目>\n"
        "/export <项目> [labelstudio] — 导出答案（CSV 和 JSONL）及汇总标签（或 Label Studio JSON 格式）\n"
        "/review <项目> — 复核被规则拦下的答案：通过或驳回\n"
        "/guide <项目> <说明> — 标注说明（示例图片：作为图片的说明文字发送）\n"
        "/invite [次数] [项目] [天数]、/invites、/revoke <邀请码> — 邀请链接\n"
        "/role <学生> admin|reviewer|none — 所有者分配角色（审核员：/review、/stats）\n"
        "/workers <项目> — 学生的答题数、正确率、速度；/ban、/unban <学生>\n"
        "/bonus、/deduct <学生> <金额> <原因>；/approve [项目]\n"
        "/payout <学生|all>、/payouts、/export_payouts；/broadcast <内容>\n\n"
        "上传设置：type=label|rating，options=a,b,c，scale=1-5，price=0.05，overlap=2，"
        'lease=10（分钟），instructions="…"。'
    ),
    "task_header": "📝 {project} · 每题 {price}",
    "task_header_free": "📝 {project}",
    "task_prompt_label": "请选择最合适的标签。",
    "task_prompt_rating": "请打分：{low}（最低）到 {high}（最高）。",
    "saved_line": "✓ 已保存：{value} · +{amount}",
    "saved_line_free": "✓ 已保存：{value}",
    "skipped_line": "⏭ 已跳过。",
    "toast_saved": "已保存 · +{amount}",
    "toast_saved_free": "已保存",
    "toast_skipped": "已跳过",
    "no_tasks": "目前的任务都做完啦，暂时没有新任务。🎉\n有新任务时我会第一时间通知你。",
    "task_moved": "↓ 这道题已移到下方的新消息中。",
    "refused_not_found": "这道题不存在，未记录任何内容。",
    "refused_not_yours": "这个按钮属于别人的任务，未记录任何内容。",
    "refused_answered": "你已经回答过这道题，答案只保存了一次。",
    "refused_skipped": "你之前跳过了这道题，未记录任何内容。",
    "refused_expired": "这道题的作答时间已过，已退回任务池，未记录任何内容。",
    "refused_withdrawn": "项目组已撤回这道题，未记录任何内容。",
    "refused_paused": "该项目已暂停，未记录任何内容；恢复时会通知你。",
    "refused_bad_option": "这不是这道题的选项，未记录任何内容。",
    "refused_not_active": "你的账号目前不能领取任务。",
    "bad_button": "这个按钮已失效。请发送 /next 领取新任务。",
    "language_prompt": "请选择语言：",
    "language_set": "语言已设为中文。",
    "saved_not_shown": "已保存。显示结果时我们这边出了点问题，无需再次发送。",
    "try_again": "抱歉，我们这边出了点问题，什么都没有保存。请再试一次。",
    "not_allowed": "抱歉，只有项目管理员可以这样做。",
    "not_registered": "请先发送 /start。",
    "role_usage": "用法：/role <用户 id 或 @用户名> admin|reviewer|none",
    "role_unknown_user": "机器人不认识用户 {user}；请使用其 Telegram id。",
    "role_owner_fixed": "{user} 是所有者（在配置中设定），不能在这里更改。",
    "role_changed": "{user} 的角色已更改：{old} → {new}。",
    "role_unchanged": "{user} 已经是 {role}，没有变化。",
    # admins: uploads
    "upload_usage": (
        "请发送任务文件，并附上说明文字：\n"
        "/upload <项目> [type=label|rating] [options=a,b,c] [scale=1-5] [price=0.05] "
        '[overlap=1] [lease=10] [instructions="…"]\n\n'
        "文件格式：CSV（列 text；可选 id、gold）、同样键名的 JSONL，"
        "或 Label Studio 的 JSON 任务列表。"
    ),
    "upload_which_project": "{file} 属于哪个项目？",
    "upload_older_projects": (
        "另有 {hidden} 个较早的项目未列出；如要导入其中之一，请重新发送文件并附上说明文字 "
        "/upload <项目>。"
    ),
    "upload_new_project_hint": (
        "如果是新项目，请重新发送文件并附上说明文字 "
        "/upload <名称> options=a,b,c（或 type=rating）。"
    ),
    "btn_cancel": "取消",
    "upload_cancelled": "已取消上传，未导入任何内容。",
    "upload_gone": "这个文件已不在等待中，请重新发送。",
    "upload_too_big": (
        "{file} 有 {size} MB，但 Telegram 只允许机器人下载不超过 20 MB 的文件。"
        "请拆分成较小的文件。未导入任何内容。"
    ),
    "upload_too_big_unknown": (
        "{file} 超过 20 MB，但 Telegram 只允许机器人下载不超过 20 MB 的文件。"
        "请拆分成较小的文件。未导入任何内容。"
    ),
    "upload_not_a_file": "请以文件（document）形式发送任务，而不是图片或文字。",
    "upload_started": "⏳ 正在导入 {file}……",
    "upload_progress": "⏳ 正在导入 {file}：{done} / {total} 行……",
    "upload_done": "✅ {project}：新增 {added} 个任务，跳过 {skipped} 个（其 id 已在项目中）。",
    "upload_project_created": (
        "新项目 {project}：{type}，答案：{options}；每题 {price}，"
        "每个任务 {overlap} 个答案，每题保留 {lease} 分钟。"
    ),
    "upload_settings_changed": "已修改设置：{keys}。",
    "upload_predictions_dropped": (
        "ℹ️ 有 {count} 条预测未导入：文件里只有它们的 Label Studio 编号（其默认 JSON 导出），"
        "没有预测结果。如需保留，请在 Label Studio 导出完整预测（predictions only_id=false）后上传该文件。"
    ),
    "upload_rejected": "❌ {file} 未导入任何内容。共 {count} 个问题：",
    "upload_problem_line": "• {where}：{message}",
    "upload_problem_file": "• {message}",
    "upload_more_problems": "……另有 {more} 个。",
    "where_line": "第 {n} 行",
    "where_item": "第 {n} 项",
    "upload_same_file": "这个文件已经导入过 {project}，本次未重复导入。",
    "upload_download_failed": "无法从 Telegram 下载 {file}，请重新发送。",
    "type_label": "标签",
    "type_rating": "评分",
    # file problems
    "err_empty_file": "文件是空的",
    "err_bad_encoding": "文件不是我能识别的编码的文本；请另存为 UTF-8，或在说明里用 encoding=… 写明它的编码",
    "err_not_given_encoding": "第 {line} 行不是说明里写的 {encoding} 编码的文本；请换一种编码，或去掉 encoding= 让我自己判断",
    "err_not_bom_encoding": "文件开头有 {encoding} 的字节顺序标记（BOM），但第 {line} 行不是 {encoding} 文本；请重新另存为 UTF-8",
    "err_unsure_encoding": "无法确定这个文件的编码。第 {line} 行按各个可能的编码读出来是：\n{readings}\n如果其中一种读得对，请在说明里加上它后重新发送文件，例如 /upload <项目> encoding={example}",
    "err_duplicate_column": "有两列都叫“{column}”",
    "err_no_header": "CSV 文件没有表头行",
    "err_missing_column": "缺少必需的列“{column}”",
    "err_too_many_columns": "列数超过 {limit}",
    "err_json_invalid": "不是有效的 JSON（{detail}）",
    "err_json_not_array": "JSON 文件必须是任务列表（[ … ]）",
    "err_no_rows": "文件中没有任务",
    "err_too_many_errors": "问题太多，只检查了前 {count} 个",
    "err_empty_value": "“{column}”为空",
    "err_line_not_json": "不是 JSON 对象（{detail}）",
    "err_row_not_object": "每个任务必须是带键的 JSON 对象",
    "err_bad_value_type": "“{column}”必须是文字或数字",
    "err_duplicate_id": "id“{id}”在文件中出现了两次（第一次出现在第 {first_line} 处）",
    "err_field_too_long": "“{column}”超过 {limit} 个字符",
    "err_nul_character": "含有 NUL 字符",
    "err_extra_fields": "单元格数多于表头的列数",
    "err_csv_malformed": "此处 CSV 格式有误（{detail}）",
    "err_gold_not_option": "标准答案“{value}”不在选项中（{options}）",
    # admins: the /upload caption
    "arg_missing_project": "请写出项目名称：/upload <项目> [键=值 …]",
    "arg_bad_project_name": "项目名称为 1–40 个字母、数字、“-”或“_”，不含空格：“{name}”不符合。",
    "arg_unknown_key": "未知设置“{key}”。可用：{known}。",
    "arg_not_key_value": "“{arg}”不是 键=值 形式的设置。",
    "arg_bad_type": "type 必须是 label、rating、pairwise、multilabel、correction 或 image，而不是“{value}”。",
    "arg_bad_price": "price 必须是像 0.05 这样的金额（最多 {digits} 位小数），而不是“{value}”。",
    "arg_bad_int": "{key} 必须是 {low} 到 {high} 之间的整数，而不是“{value}”。",
    "arg_bad_scale": "scale 应形如 1-5（2 到 10 档），而不是“{value}”。",
    "arg_options_required": "标签项目需要给出答案选项：options=a,b,c（至少 2 个）。",
    "arg_bad_options": "options 必须是 2–20 个互不相同、用逗号分隔的标签，每个最多 40 个字符。",
    "arg_locked_after_answers": "{project} 已有答案，{key} 不能再修改（否则答案会失去意义）。",
    "arg_bad_quotes": "说明文字中有未闭合的引号。",
    "arg_bad_encoding": "“{value}”不是我认识的文本编码。可以试试 utf-8、gbk、gb18030、big5、cp1252、latin-1 或 utf-16。",
    # admins: projects
    "projects_empty": "还没有项目。发送文件并附上说明文字 /upload <名称> 即可创建。",
    "projects_title": "项目：",
    "projects_line": "{icon} {name} — {done}/{needed} 个答案（{pct}%），{tasks} 个任务",
    "status_active": "进行中",
    "status_paused": "已暂停",
    "status_closed": "已关闭",
    "stats": (
        "📊 {name}（{status}）\n"
        "{bar} {pct}%\n"
        "答案：{done} / {needed}\n"
        "任务：{tasks} · 正在作答：{in_flight}\n"
        "今日活跃学生：{active}\n"
        "每题 {price} · 每个任务 {overlap} 个答案"
    ),
    "stats_options_title": "各选项答案数：",
    "stats_option_line": "• {value}：{count}",
    "stats_no_answers": "还没有答案。",
    "usage_project": "用法：/{command} <项目>",
    "unknown_project": "没有名为“{name}”的项目。/projects 可查看全部项目。",
    "paused_ok": "⏸ {name} 已暂停，学生手中的任务已收回。",
    "resumed_ok": "▶️ {name} 已恢复。",
    "already_paused": "{name} 已经是暂停状态。",
    "already_active": "{name} 已经在进行中。",
    "export_caption": "{name}：{rows} 个答案（{file_format}）",
    "export_empty": "{name} 还没有答案，没有可导出的内容。",
    # command menu
    "cmd_next": "领取任务",
    "cmd_help": "全部命令",
    "cmd_language": "English / 中文",
    "cmd_start": "开始",
    # money: students
    "balance": (
        "💰 你的余额\n"
        "可提现：{available}\n"
        "待审核：{pending}\n"
        "已发放：{paid_out}\n\n"
        "收入明细：\n"
        "答题：{earned}\n"
        "奖励：{bonuses}\n"
        "扣款：{deductions}\n"
        "退款与更正：{adjustments}\n"
        "合计：{total} = 可提现 + 待审核 + 已发放"
    ),
    "balance_pending_note": "答题收入会在作答 {hours} 小时后自动审核通过。",
    "history_title": "🧾 收支记录，第 {page} / {pages} 页：",
    "history_empty": "还没有记录。完成第一道题后，收入会显示在这里。",
    "history_line": "{when} · {amount} · {what} · {status}",
    "entry_status_pending": "⏳ 待审核",
    "entry_status_approved": "✓ 已通过",
    "entry_status_paid": "💸 已发放",
    "entry_status_reversed": "↩ 已撤销",
    "entry_status_payout": "💸 已发出",
    "reason_earning_answer": "{project} 的任务 {task} 答题收入",
    "reason_bonus_manual": "奖励：{text}",
    "reason_deduction_manual": "扣款：{text}",
    "reason_payout_sent": "发放 {reference}",
    "reason_adjustment_refund": "申诉记录 #{entry} 的退款",
    "dispute_open_suffix": "（申诉：{status}）",
    "dispute_status_open": "审核中",
    "dispute_status_upheld": "维持原判",
    "dispute_status_refunded": "已退款",
    "btn_prev": "◀",
    "btn_next": "▶",
    "btn_dispute": "⚖️ 申诉 #{id}",
    "dispute_sent": "你对记录 #{id}（{amount}）的申诉已提交给项目组，结果会在这里通知你。",
    "dispute_not_disputable": "只能对你自己的扣款提出申诉。",
    "dispute_already": "你已经对这条记录提出过申诉。",
    "notice_bonus": "🎁 奖励 {amount}：{reason}",
    "notice_deduction": "➖ 扣款 {amount}：{reason}\n如果你认为有误，请点击“申诉”，项目组会重新审核。",
    "notice_payout": "💸 已发放：{amount}\n对应 {answers} 道题，时间 {start} 至 {end}。\n参考号：{reference}",
    "notice_refund": "✅ 你对记录 #{id} 的申诉已通过：退还 {amount}。",
    "notice_upheld": "你对记录 #{id} 的申诉已审核，{amount} 的扣款维持不变（原因：{reason}）。",
    # money: admins
    "usage_bonus": "用法：/bonus <学生 id 或 @用户名> <金额> <原因>",
    "usage_deduct": "用法：/deduct <学生 id 或 @用户名> <金额> <原因>",
    "usage_payout": "用法：/payout <学生 id 或 @用户名 | all>",
    "money_no_student": "没有学生“{ref}”。",
    "money_bad_amount": "“{value}”不是像 0.50 这样的金额。",
    "money_no_reason": "请填写学生能看懂的原因。",
    "bonus_done": "🎁 已为 {student} 记录 {amount} 奖励（记录 #{id}），会通知对方。",
    "deduct_done": "➖ 已为 {student} 记录 {amount} 扣款（记录 #{id}），会通知对方，对方可以申诉。",
    "approve_done": "✓ 已审核通过 {count} 笔收入。",
    "payout_none": "没有可发放的金额：没有已审核且未发放的余额。",
    "payout_done": "💸 已向 {count} 名学生发放，共 {total}：",
    "payout_line": "• {reference} · {student} · {amount} · {answers} 道题",
    "payouts_empty": "还没有发放记录。",
    "payouts_title": "最近的发放：",
    "payouts_line": "• {when} · {reference} · {student} · {amount} · {answers} 道题",
    "export_payouts_caption": "{rows} 笔发放",
    "dispute_admin": "⚖️ 申诉 #{id}，来自 {name}（{student}）：\n{amount} — {reason}\n时间：{when}。",
    "btn_uphold": "维持",
    "btn_refund": "退款",
    "dispute_resolved_refunded": "申诉 #{id}：已退还 {amount}，已通知学生。",
    "dispute_resolved_upheld": "申诉 #{id}：维持扣款，已通知学生。",
    "dispute_gone": "这条申诉已经处理过了。",
    # summaries
    "summary_title_daily": "📅 今日小结，{date}",
    "summary_title_weekly": "📅 本周小结，{start} 至 {end}",
    "summary_answers": "答题：{answers} 道 · 收入 {earned}",
    "summary_week_total": "本周：{answers} 道 · 收入 {earned}",
    "summary_today": "今天：{answers} 道 · 收入 {earned}",
    "summary_hourly": "作答时间：{minutes} 分钟 → 每小时 {hourly}",
    "summary_accuracy": "质检题正确率：{pct}%（{total} 道中答对 {correct} 道）",
    "summary_balance": "余额：可提现 {available} · 待审核 {pending}",
    # settings
    "settings": (
        "⚙️ 设置\n"
        "新任务提醒：{alerts}\n"
        "免打扰时段（不发提醒和小结）：{quiet}\n"
        "时区：{timezone}（你现在的时间：{local}）\n"
        "语言：{language}"
    ),
    "settings_on": "开",
    "settings_off": "关",
    "settings_quiet_off": "无",
    "settings_quiet_prompt": "选择免打扰时段。落在其中的消息会等到时段结束再发。",
    "settings_zone_prompt": "选择你的时区（其他时区可发送 /timezone 地区/城市）：",
    "settings_saved": "已保存",
    "settings_bad_zone": "“{name}”不是已知的时区。例如：/timezone Asia/Shanghai",
    "settings_zone_set": "时区已设为 {timezone}。",
    "btn_alerts_on": "🔔 打开提醒",
    "btn_alerts_off": "🔕 关闭提醒",
    "btn_quiet": "🌙 免打扰时段",
    "btn_timezone": "🕒 时区",
    "btn_back": "◀ 返回",
    "cmd_settings": "提醒、免打扰、时区",
    "cmd_balance": "我的余额",
    "cmd_history": "收支记录",
    # outbox: broadcasts and new-task alerts
    "broadcast_usage": (
        "用法：/broadcast <内容>\n把这段内容发给所有在册学生（已屏蔽机器人的除外）。"
    ),
    "broadcast_queued": (
        "📢 已为 {count} 名学生排队发送。消息按 Telegram 的速率限制发出，"
        "约 {seconds} 秒内全部送达；处于免打扰时段的学生会在时段结束后收到。"
    ),
    "broadcast_nobody": "没有可发送的对象（或这条群发已经排队过了）。",
    "broadcast_message": "📢 {text}",
    "alert_new_tasks": "🆕 {project} 有新任务。点击下方按钮开始标注。",
    # quality rules
    "rule_wrong_gold": "✗ 这是一道质检题：正确答案是“{right}”。{explanation}",
    "rule_too_fast": (
        "⏱ 待复核（规则：作答过快）：你用了 {seconds} 秒，但读完 {chars} 个字符至少需要 "
        "{minimum} 秒。这道题的 {amount} 会在审核员查看后再结算。"
    ),
    "rule_accuracy": (
        "⛔ 你在 {project} 暂停到 {until}（规则：正确率）：最近 {total} 道质检题你答对 "
        "{correct} 道（{pct}%），该项目要求 {threshold}%。"
    ),
    "rule_skips": "☕ 你连续跳过了 {skips} 道题，休息一下吧（规则：连续跳过）。{project} 将在 {until} 重新开放。",
    "hold_accuracy": "{project}：暂停到 {until}；最近 {total} 道质检题正确率 {pct}%，低于 {threshold}%。",
    "hold_skips": "{project}：连续跳过 {skips} 道后的短暂休息，到 {until}。",
    "hold_paused": "{project}：对你暂停到 {until}。",
    "hold_daily_cap": "{project}：你已达到 24 小时内 {cap} 道的上限，{until} 起可以继续。",
    "hold_fair_share": (
        "{project}：你目前已拿到公平份额（24 小时内 {mine} 道；剩余 {left} 道由 {students} "
        "名学生分配）。其他人完成后会开放更多。"
    ),
    "held_title": "现在没有任务给你的原因：",
    "arg_bad_number": "{key} 必须是 {low} 到 {high} 之间的数字，而不是“{value}”。",
    "arg_bad_allocation": "allocation 必须是 fair 或 fifo，而不是“{value}”。",
    # quality: admins and /me
    "review_empty": "{project} 没有待复核的答案。👍",
    "review_item": (
        "🔎 {project}：{waiting} 个答案待复核\n"
        "任务 {task}，学生 {student}\n"
        "答案：{value} · {seconds} 秒 · 规则：{rule}\n\n"
        "{text}"
    ),
    "btn_accept": "✓ 通过",
    "btn_reject": "✗ 驳回",
    "review_accepted": "已通过：收入会照常审核。",
    "review_rejected": "已驳回：已写入一笔注明任务和规则的扣款。",
    "review_gone": "这个答案已经复核过了。",
    "reason_deduction_review": "{project} 的任务 {task} 的答案在复核中被驳回（规则：{rule}）",
    "workers_empty": "{project} 还没有人作答。",
    "workers_title": "👥 {project}：{count} 名学生（答题数 · 质检正确率 · 中位秒数 · 待复核 · 状态）",
    "workers_line": "• {student} {name}：{answers} · {gold} 道中 {accuracy} · {median} 秒 · {flagged} · {status}",
    "worker_active": "正常",
    "worker_suspended": "暂停",
    "worker_banned": "已封禁",
    "worker_blocked": "已屏蔽机器人",
    "worker_paused": "暂停至 {until}（规则：{rule}）",
    "usage_student": "用法：/{command} <学生 id 或 @用户名>",
    "banned_ok": "⛔ {student} 已被封禁：不再分配任务，按钮也会被拒绝。",
    "unbanned_ok": "✓ {student} 可以重新领取任务；规则暂停已解除。",
    "me_empty": "你还没有回答过任务。发送 /next 开始。",
    "me_title": "📈 你的记录（答题数 · 质检题正确率 · 每题秒数）：",
    "me_line": "• {project}：{answers} · {accuracy}（{gold} 道中答对 {correct} 道）· {median} 秒",
    "cmd_me": "我的正确率和速度",
    "stats_quality": "一致性（Krippendorff's alpha，{level}）：{alpha} · 质检题：{controls}",
    "export_aggregated_caption": "{name}：{rows} 个任务的汇总结果（多数投票和 Dawid-Skene）；alpha {alpha}（{level}）",
    "export_working": "⏳ 正在导出 {name}：生成文件中……学生可以照常标注。",
    "export_done": "✅ {name} 已导出：文件共 {files} 个，见下方。",
    "export_failed": "❌ 抱歉，{name} 导出失败。没有任何改动，请过一分钟再试。",
    "export_aggregated_caption_multilabel": "{name}：{rows} 个任务的汇总结果（超过半数答案勾选的标签）；alpha {alpha}（{level}）",
    "export_aggregated_caption_correction": "{name}：{rows} 个任务的汇总结果（未修改与已修改的比例，以及最常见的修改）；alpha {alpha}（{level}）",
    "ds_not_converged": "⚠️ Dawid-Skene 在 {rounds} 轮内没有收敛：其标签可能还会变化，请以多数投票为准。",
    "usage_approve": "用法：/approve <项目 | 学生 id 或 @用户名 | all>",
    "settings_zone_usage": "请以 地区/城市 的形式发送时区，例如 /timezone Asia/Shanghai，或在 /settings 中选择。",
    # every task type
    "type_pairwise": "A/B 对比",
    "pair_prompt": "❓ 问题：",
    "pair_first": "🅰 回答 A：",
    "pair_second": "🅱 回答 B：",
    "task_prompt_pairwise": "哪个回答更好？",
    "btn_pair_first": "A 更好",
    "btn_pair_second": "B 更好",
    "btn_pair_tie": "一样好",
    "btn_pair_both_bad": "都不好",
    "task_page": "— 第 {page} / {pages} 页：用下方 ◀ ▶ 翻页 —",
    "btn_guide": "📖 说明",
    "guide_title": "📖 {project} 的标注说明：",
    "btn_back_to_task": "◀ 返回任务",
    "stats_position": "A/B 位置：先显示的回答在 {decisive} 次明确选择中胜出 {first} 次（{pct}%）。",
    "type_multilabel": "多标签",
    "type_correction": "文本纠错",
    "task_prompt_multilabel": "勾选所有合适的标签，然后点“完成”。",
    "task_prompt_correction": "这段文字正确吗？如果不正确，点 ✏️ 并发送修改后的文字。",
    "btn_no_correction": "✓ 无需修改",
    "btn_correct": "✏️ 修改",
    "btn_done": "✅ 完成",
    "btn_none_of_these": "都不是",
    "btn_comment": "💬 给上一题写备注",
    "ask_correction": "请在下一条消息中发送修改后的文字（原文在下方，方便复制）：",
    "placeholder_correction": "修改后的文字",
    "ask_comment": "请在下一条消息中发送你对上一题的备注：",
    "placeholder_comment": "你的备注",
    "text_not_expected": "请使用任务下方的按钮，或发送 /next 领取任务。",
    "comment_saved": "💬 备注已和你的答案一起保存。",
    "refused_nothing_chosen": "请先至少勾选一个标签（如有“都不是”也可以选它）。未记录任何内容。",
    "arg_bad_choice": "{key} 必须是 {choices} 之一，而不是“{value}”。",
    "task_suggestion": "💡 建议答案：{value}",
    "export_ls_caption": "{name}：{tasks} 个任务及其答案（Label Studio JSON 格式）",
    "balance_held_note": "其中 {amount} 因规则待复核：审核员通过后才会审核通过。",
    # image tasks and zips of images
    "type_image": "图片标签",
    "task_prompt_image": "请看图片，选择最合适的标签。",
    "arg_zip_needs_image": (
        "zip 仅用于图片项目：/upload <项目> type=image options=a,b，zip 内含一个 CSV/JSONL "
        "任务文件及其引用的图片。"
    ),
    "err_zip_invalid": "无法读取这个 zip（已损坏、已加密或压缩方式不支持）",
    "err_zip_too_many_files": "zip 内有 {count} 个文件，最多允许 {limit} 个",
    "err_zip_bad_name": "zip 内的文件名“{name}”不安全（含“..”或绝对路径）",
    "err_zip_member_too_big": "“{name}”解压后超过 {limit} MB",
    "err_zip_too_big": "zip 解压后超过 {limit} MB",
    "err_zip_bomb": "“{name}”解压后超过压缩大小的 {limit} 倍（疑似 zip 炸弹）",
    "err_zip_tasks_file_count": "zip 内必须恰好有一个任务文件（.csv、.tsv、.jsonl 或 .json），现在有 {count} 个",
    "err_image_missing": "zip 中没有图片“{name}”",
    "err_image_not_url": "“{name}”不是 https:// 链接；如需使用图片文件，请把它们和任务文件一起打包成 zip 发送",
    "err_image_upload_failed": "Telegram 不接受“{name}”作为图片",
    "usage_guide": "用法：/guide <项目> <说明>，或发送示例图片并附上说明文字 /guide <项目> [说明]。",
    "guide_set": "📖 {project} 的说明已更新，学生在每道题下都能看到。",
    # privacy: /privacy and /forget_me
    "privacy_info": (
        "🔒 你在 Labelgram 中的数据\n\n"
        "我们保存什么，为什么：\n"
        "• 你的 Telegram ID、名字和用户名：用于识别你、给你发任务和付款。\n"
        "• 你的语言、时区和设置（提醒、免打扰时段）：用你的语言联系你，并避开夜间。\n"
        "• 你的每个回答，以及回答的时间和用时（秒）：这是团队付费的标注工作；用时用于质量检查。\n"
        "• 账本：每笔收入、奖励、扣款和付款及其原因，确保你的报酬准确、可核对（/balance、/history）。\n\n"
        "团队管理员能看到：你的 Telegram ID、名字和用户名、你的回答、你的准确率和速度（/me 向你展示同样的内容）、你的余额和付款记录。"
        "导出的回答文件中绝不包含你的名字、用户名或 Telegram ID，只有一个化名 ID（如 s-1a2b3c4d5e）。\n\n"
        "保存多久：在你为团队工作期间，以及之后团队财务记账所需的期限内。\n\n"
        "如何删除：/forget_me 会删除你的名字、用户名和设置，并断开你的 Telegram ID 与你的回答和付款记录之间的关联。"
        "回答和金额合计会以匿名方式保留，因为团队已为其付费。"
        "尚未付给你的钱必须先结清。"
    ),
    "forget_confirm": (
        "确定删除你的个人数据吗？\n\n"
        "你的名字、用户名和设置将被删除。你的回答和付款记录只会匿名保留："
        "它们将不再与你的 Telegram 账号关联，因此你将无法再查看历史记录或提出申诉。"
        "此操作无法撤销。"
    ),
    "forget_yes_button": "是，删除",
    "forget_cancel_button": "取消",
    "forget_cancelled": "已取消，没有任何更改。",
    "forget_done": (
        "✅ 已完成。你的名字、用户名和设置已删除，你的回答和付款记录已不再与你的 Telegram 账号关联。"
        "如果你再次发送 /start，你将作为新学生开始。"
    ),
    "forget_owed": (
        "暂时无法删除你的数据：还有 {total} 未付给你（{pending} 等待审核，{available} 可以付款）。"
        "请先让协调员为你付款（团队使用 /payout），然后再发送 /forget_me。没有任何更改。"
    ),
    "forget_open_dispute": (
        "暂时无法删除你的数据：你的一项申诉仍在等待处理。"
        "处理完成后请再次发送 /forget_me。没有任何更改。"
    ),
    "forget_not_registered": "没有保存任何关于你的数据：你还没有通过 /start 注册。",
    # access: invite-only mode and invite links
    "invite_only": "你好！👋 本机器人仅限受邀使用。请向你的协调员索取邀请链接，然后打开它加入。",
    "invite_invalid": (
        "抱歉，此邀请链接无法使用：它可能已被使用、已过期或已被撤回。请向你的协调员索取新的链接。"
    ),
    "invite_usage": (
        "用法：/invite [次数] [项目] [天数]，例如 /invite 5 reviews 14。"
        "默认：1 次、任意项目、7 天。次数：1 到 10000；天数：1 到 365。"
    ),
    "invite_unknown_project": "没有名为 {project} 的项目。发送 /projects 查看。",
    "invite_created": "邀请链接：{uses} 次，{project}，{expires} 过期。\n{link}",
    "invite_any_project": "任意项目",
    "invites_none": "目前没有可用的邀请链接。用 /invite 创建一个。",
    "invites_line": "{code} · 剩余 {left}/{uses} 次 · {project} · {expires} 过期",
    "revoke_usage": "用法：/revoke <代码>（/invites 列出所有代码）。",
    "revoke_done": "邀请 {code} 已撤回：任何人都不能再用它加入。",
    "revoke_unknown": "没有代码为 {code} 的邀请，或它已被撤回。",
    "export_identified_owners_only": "只有所有者可以导出学生的 Telegram id 和姓名；其他导出只显示化名。",
}
