# Resuming a run from saved outputs (goldenlayers.record, `make record`): the inputs the saved jobs read that a
# record does not hold (the prepared models; the covariance statistics of editors that need them), rebuilt
# before `snakemake --touch` marks the restored outputs up to date (resume_input_files: functions/resume.smk).


rule resume_inputs:
    input:
        resume_input_files(),
    localrule: True
