"""`tfsearch data check`: validate a BEIR folder and print its data quality report."""

import json


def cmd_data_check(args):
    from tfsearch.data.quality import check_beir_folder

    report = check_beir_folder(args.dir)
    if args.json:
        print(json.dumps(report.to_dict(), indent=2))
    else:
        print(report.format())
    return 0 if report.usable else 1


def add_parser(subparsers):
    p = subparsers.add_parser("data", help="Data tools (see `tfsearch data check --help`).",
                              description="Data tools for BEIR folders.")
    data_sub = p.add_subparsers(dest="data_command", metavar="DATA_COMMAND")
    data_sub.required = True
    c = data_sub.add_parser("check", help="Validate a BEIR folder and print a data quality report.",
                            description="Validate a BEIR folder and print a data quality report; "
                                        "exits 1 when the data cannot be used.")
    c.add_argument("dir", help="BEIR folder (corpus.jsonl, queries.jsonl, qrels/SPLIT.tsv)")
    c.add_argument("--json", action="store_true", help="print the report as JSON")
    c.set_defaults(func=cmd_data_check)
