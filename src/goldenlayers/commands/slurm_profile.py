"""slurm-profile: install profiles/slurm as the Snakemake profile "slurm" (for `snakemake --profile slurm`)."""

from __future__ import annotations

NAME = "slurm-profile"
HELP = ("install the SLURM profile where Snakemake finds it by name (~/.config/snakemake/slurm), with the "
        "site's partitions and account; then run: snakemake --cores 8 --profile slurm")


def add_arguments(parser):
    parser.add_argument("--name", default="slurm", help="profile name (default: slurm)")
    parser.add_argument("--root", default=None,
                        help="profile folder (default: Snakemake's, ~/.config/snakemake or $XDG_CONFIG_HOME/snakemake)")
    parser.add_argument("--template", default=None,
                        help="the profile template (default: the repository's profiles/slurm/config.yaml, or the "
                             "working directory's in a snakedeploy deployment)")
    parser.add_argument("--gpu-partition", default=None,
                        help="partition for GPU jobs (default: $GL_SLURM_GPU_PARTITION, else asked, else the cluster's)")
    parser.add_argument("--cpu-partition", default=None,
                        help="partition for CPU jobs (default: $GL_SLURM_CPU_PARTITION, else asked, else the cluster's)")
    parser.add_argument("--account", default=None,
                        help="account to charge (default: $GL_SLURM_ACCOUNT, else asked, else your default)")
    parser.add_argument("--status-command", choices=["auto", "sacct", "squeue"], default="auto",
                        help="how Snakemake polls jobs: sacct needs accounting (slurmdbd); auto tries sacct")
    parser.add_argument("--poll-seconds", type=int, default=None,
                        help="seconds before the first and between status checks (default: the template's)")
    parser.add_argument("--jobs", type=int, default=None, help="jobs queued or running at once (default: the template's)")
    parser.add_argument("--retries", type=int, default=None, help="resubmissions of a failed job (default: the template's)")
    parser.add_argument("--no-input", action="store_true", help="never ask; unset settings stay the cluster's defaults")
    parser.add_argument("--force", action="store_true", help="replace a profile of this name not written by this command")


def run(args):
    from ..slurm_profile import SETTINGS, TEMPLATE, install_profile, site_value

    given = {"gpu_partition": args.gpu_partition, "cpu_partition": args.cpu_partition, "account": args.account}
    site = {option: site_value(option, given[option], ask=not args.no_input) for option in SETTINGS}
    dest = install_profile(name=args.name, root=args.root, template=args.template or TEMPLATE, site=site,
                           status_command=args.status_command, poll_seconds=args.poll_seconds, jobs=args.jobs,
                           retries=args.retries, force=args.force)
    print(f"installed {dest}\nrun from the workflow's folder:  snakemake --cores 8 --profile {args.name}")
