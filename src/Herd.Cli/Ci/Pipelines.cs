using System.Globalization;

namespace Herd.Cli.Ci;

/// <summary>The CI systems <c>herd ci init</c> writes a pipeline for.</summary>
public enum CiSystem
{
    GitHub,
    GitLab,
    Jenkins,
}

/// <summary>A file <c>herd ci init</c> writes: where (relative to the repository root) and what.</summary>
/// <param name="Overwrite">Whether an existing file is replaced with --force (the pipeline), or always kept (the prompt and schema the team edits).</param>
public sealed record PipelineFile(string Path, string Text, bool Overwrite);

/// <summary>
/// The pipeline templates of issue #11 item 5 (docs/ci.md): N shard jobs that each run <c>herd run --shard</c> and
/// keep their run directory as an artifact, then one job that merges them, publishes the reports in the CI's own UI and
/// applies the gate. The shell in them is what docs/ci.md documents and what the pipeline tests execute.
/// </summary>
public static class Pipelines
{
    public const int DefaultShards = 4;

    /// <summary>Where the review prompt lives; the pipelines read it with --prompt-file.</summary>
    public const string PromptPath = ".herd/review.md";

    /// <summary>The findings schema (the seed's slide-10 shape); the pipelines pass it with --json-schema.</summary>
    public const string SchemaPath = ".herd/findings.schema.json";

    public static string PathOf(CiSystem system) => system switch
    {
        CiSystem.GitHub => ".github/workflows/herd.yml",
        CiSystem.GitLab => ".gitlab-ci.yml",
        _ => "Jenkinsfile",
    };

    public static IReadOnlyList<PipelineFile> For(CiSystem system, int shards) =>
    [
        new(PathOf(system), Pipeline(system, shards), Overwrite: true),
        new(PromptPath, Prompt, Overwrite: false),
        new(SchemaPath, Schema, Overwrite: false),
    ];

    public static string Pipeline(CiSystem system, int shards)
    {
        var template = system switch
        {
            CiSystem.GitHub => GitHub,
            CiSystem.GitLab => GitLab,
            _ => Jenkins,
        };
        var list = string.Join(", ", Enumerable.Range(1, shards));
        var text = template
            .Replace("@N@", shards.ToString(CultureInfo.InvariantCulture), StringComparison.Ordinal)
            .Replace("@LIST@", list, StringComparison.Ordinal)
            .Replace("@RUN_FLAGS@", RunFlags, StringComparison.Ordinal)
            .Replace("@EXCLUDE@", Exclude(system), StringComparison.Ordinal);
        if (system == CiSystem.Jenkins)
            text = text.Replace("@JENKINS_SHARDS@", JenkinsShards(shards), StringComparison.Ordinal).Replace("@JENKINS_UNSTASH@", JenkinsUnstash(shards), StringComparison.Ordinal);
        return text;
    }

    /// <summary>The options every shard runs with: identical in every shard, so they all compute the same plan hash.</summary>
    /// <remarks>
    /// <c>--tools</c> offers the model only the read-only tools, so no shard needs bubblewrap (the Bash tool's sandbox,
    /// absent on hosted runners); <c>--allowedTools</c> alone would still offer Bash.
    /// </remarks>
    private const string RunFlags = """-j 8 --prompt-file .herd/review.md --json-schema "$(cat .herd/findings.schema.json)" --tools Read,Grep,Glob --allowedTools Read,Grep,Glob --max-turns 20 --progress plain""";

    /// <summary>The files reviewed: every tracked file but Herd's own and the pipeline's.</summary>
    private static string Exclude(CiSystem system) => system switch
    {
        CiSystem.GitHub => "':(exclude).herd/*' ':(exclude).github/*'",
        CiSystem.GitLab => "':(exclude).herd/*' ':(exclude).gitlab-ci.yml'",
        _ => "':(exclude).herd/*' ':(exclude)Jenkinsfile'",
    };

    /// <summary>
    /// One stage per shard, each on an agent of its own (its own workspace, so the run directory travels by
    /// stash/unstash). A shard that fails (exit above 101) fails its stage and the build through <c>catchError</c>,
    /// and the merge, the reports and the gate still run on what the other shards produced.
    /// </summary>
    private static string JenkinsShards(int shards) => string.Join("\n", Enumerable.Range(1, shards).Select(k => $$"""
                        stage('Shard {{k}}') {
                            agent any
                            steps {
                                withEnv(["PATH+HERD=${env.HOME}/.herd/bin"]) {
                                    catchError(buildResult: 'FAILURE', stageResult: 'FAILURE') {
                                        sh '''
        {{Indent(Install, 36)}}
                                            rc=0
                                            git ls-files -- . {{Exclude(CiSystem.Jenkins)}} | herd run --shard {{k}}/{{shards}} --run-dir herd-shards/{{k}} {{RunFlags}} || rc=$?
                                            # 1-101: tasks failed, the gate decides; 102 budget, 103 fatal, 255 usage fail this shard
                                            if [ "$rc" -gt 101 ]; then exit "$rc"; fi
                                        '''
                                    }
                                }
                                stash name: 'herd-shard-{{k}}', includes: 'herd-shards/{{k}}/**', allowEmpty: true
                            }
                        }
        """));

    private static string JenkinsUnstash(int shards) => string.Join("\n", Enumerable.Range(1, shards).Select(k => $"                catchError(buildResult: 'FAILURE', stageResult: 'FAILURE') {{ unstash 'herd-shard-{k}' }}"));

    /// <summary>How Herd gets onto a runner (docs/ci.md "Installing Herd"): kept if already on PATH, else built from source.</summary>
    private const string Install = """
        if ! command -v herd >/dev/null 2>&1; then
          if [ -z "${HERD_REPO:-}" ]; then echo "herd is not on PATH: set HERD_REPO to the git URL of Herd's source (docs/ci.md)" >&2; exit 1; fi
          git clone --depth 1 --branch "${HERD_REF:-main}" "$HERD_REPO" "$HOME/.herd/src"
          dotnet publish "$HOME/.herd/src/src/Herd.Cli" -c Release -o "$HOME/.herd/bin"
        fi
        """;

    private static readonly string GitHub = $$$"""
        # Herd review: @N@ shards, one merge, reports in the GitHub UI, one gate.
        # Written by `herd ci init github --shards @N@`; see docs/ci.md. Needs the secret ANTHROPIC_API_KEY and, unless herd
        # is already on the runner, the repository variable HERD_REPO (the git URL of Herd's source).
        name: herd

        on:
          pull_request:
          workflow_dispatch:

        permissions:
          contents: read
          security-events: write

        env:
          HERD_REPO: ${{ vars.HERD_REPO }}   # git URL of Herd's source, used when herd is not already on the runner (docs/ci.md)
          HERD_REF: ${{ vars.HERD_REF || 'main' }}

        jobs:
          shard:
            name: herd shard ${{ matrix.shard }}/@N@
            runs-on: ubuntu-latest
            strategy:
              fail-fast: false
              matrix:
                shard: [@LIST@]
            steps:
              - uses: actions/checkout@v6
              - uses: actions/setup-dotnet@v5
                with:
                  dotnet-version: 10.0.x
              - name: Install Herd
                run: |
        {{{Indent(Install, 10)}}}
                  echo "$HOME/.herd/bin" >> "$GITHUB_PATH"
              - name: Run shard
                env:
                  ANTHROPIC_API_KEY: ${{ secrets.ANTHROPIC_API_KEY }}
                run: |
                  rc=0
                  git ls-files -- . @EXCLUDE@ | herd run --shard ${{ matrix.shard }}/@N@ --run-dir herd-shards/${{ matrix.shard }} @RUN_FLAGS@ || rc=$?
                  # 1-101: tasks failed, the gate in the merge job decides; 102 budget, 103 fatal, 255 usage fail here
                  if [ "$rc" -gt 101 ]; then exit "$rc"; fi
              - uses: actions/upload-artifact@v6
                if: ${{ !cancelled() }}
                with:
                  name: herd-shard-${{ matrix.shard }}
                  path: herd-shards/${{ matrix.shard }}/
                  if-no-files-found: error

          merge:
            name: herd merge, reports, gate
            needs: shard
            if: ${{ !cancelled() }}
            runs-on: ubuntu-latest
            steps:
              - uses: actions/checkout@v6
              - uses: actions/setup-dotnet@v5
                with:
                  dotnet-version: 10.0.x
              - name: Install Herd
                run: |
        {{{Indent(Install, 10)}}}
                  echo "$HOME/.herd/bin" >> "$GITHUB_PATH"
              - uses: actions/download-artifact@v7
                with:
                  pattern: herd-shard-*
                  path: herd-shards
              - name: Merge shards
                run: herd merge herd-merged herd-shards/*/
              - name: Reports
                if: ${{ !cancelled() }}
                run: |
                  herd report herd-merged --format sarif -o herd.sarif
                  herd report herd-merged --format github
              - uses: github/codeql-action/upload-sarif@v4
                if: ${{ !cancelled() }}
                with:
                  sarif_file: herd.sarif
                  category: herd
              - uses: actions/upload-artifact@v6
                if: ${{ !cancelled() }}
                with:
                  name: herd-merged
                  path: |
                    herd-merged/
                    herd.sarif
              - name: Gate
                if: ${{ !cancelled() }}
                run: herd gate herd-merged --max-failed 0 --max-severity major

        """;

    private static readonly string GitLab = $$"""
        # Herd review: @N@ parallel shards, one merge, Code Quality and JUnit reports in merge requests, one gate.
        # Written by `herd ci init gitlab --shards @N@`; see docs/ci.md. Needs the CI/CD variable ANTHROPIC_API_KEY (masked).
        stages:
          - review
          - report

        variables:
          HERD_REPO: ""      # git URL of Herd's source, used when herd is not already in the image (docs/ci.md)
          HERD_REF: main

        default:
          image: mcr.microsoft.com/dotnet/sdk:10.0
          before_script:
            - |
        {{Indent(Install, 6)}}
            - export PATH="$HOME/.herd/bin:$PATH"

        herd-shard:
          stage: review
          parallel: @N@
          script:
            # --shard auto reads CI_NODE_INDEX/CI_NODE_TOTAL (1-based) that `parallel:` sets
            - rc=0; git ls-files -- . @EXCLUDE@ | herd run --shard auto --run-dir "herd-shards/$CI_NODE_INDEX" @RUN_FLAGS@ || rc=$?
            # 1-101: tasks failed, the gate in herd-merge decides; 102 budget, 103 fatal, 255 usage fail here
            - if [ "$rc" -gt 101 ]; then exit "$rc"; fi
          artifacts:
            when: always
            paths:
              - herd-shards/
            expire_in: 1 week

        herd-merge:
          stage: report
          needs: [herd-shard]
          when: always
          script:
            - status=0; herd merge herd-merged herd-shards/*/ || status=$?
            - herd report herd-merged --format codequality -o gl-code-quality-report.json
            - herd report herd-merged --format junit -o herd-junit.xml
            - herd report herd-merged --format markdown -o herd-report.md
            - herd gate herd-merged --max-failed 0 --max-severity major
            - exit "$status"
          artifacts:
            when: always
            paths:
              - herd-merged/
              - herd-report.md
              - gl-code-quality-report.json
              - herd-junit.xml
            reports:
              codequality: gl-code-quality-report.json
              junit: herd-junit.xml
            expire_in: 1 month

        """;

    private static readonly string Jenkins = $$"""
        // Herd review: @N@ parallel shard stages, each on its own agent, one merge, JUnit and SARIF (Warnings NG) in the
        // Jenkins UI, one gate. Written by `herd ci init jenkins --shards @N@`; see docs/ci.md. Needs the secret-text
        // credential 'anthropic-api-key', the .NET 10 SDK on the agents (or herd itself; else set HERD_REPO below), and the
        // JUnit and Warnings Next Generation plugins.
        pipeline {
            agent none
            environment {
                ANTHROPIC_API_KEY = credentials('anthropic-api-key')
                HERD_REPO = ''
                HERD_REF = 'main'
            }
            stages {
                stage('Review') {
                    parallel {
        @JENKINS_SHARDS@
                    }
                }
                stage('Merge, report and gate') {
                    agent any
                    steps {
        @JENKINS_UNSTASH@
                        withEnv(["PATH+HERD=${env.HOME}/.herd/bin"]) {
                            catchError(buildResult: 'FAILURE', stageResult: 'FAILURE') {
                                sh '''
        {{Indent(Install, 28)}}
                                    status=0
                                    herd merge herd-merged herd-shards/*/ || status=$?
                                    herd report herd-merged --format sarif -o herd.sarif
                                    herd report herd-merged --format junit -o herd-junit.xml
                                    herd report herd-merged --format markdown -o herd-report.md
                                    exit "$status"
                                '''
                            }
                            sh 'herd gate herd-merged --max-failed 0 --max-severity major'
                        }
                    }
                    post {
                        always {
                            archiveArtifacts artifacts: 'herd-merged/**, herd.sarif, herd-junit.xml, herd-report.md', allowEmptyArchive: true
                            junit testResults: 'herd-junit.xml', allowEmptyResults: true
                            recordIssues(tools: [sarif(pattern: 'herd.sarif', id: 'herd', name: 'Herd')])
                        }
                    }
                }
            }
        }

        """;

    private static string Indent(string text, int spaces) =>
        string.Join("\n", text.Split('\n').Select(l => l.Length == 0 ? l : new string(' ', spaces) + l));

    private const string Prompt = """
        Review the file {} for bugs, security problems and code that will break in production.
        Read it (and what it calls, if you need to). Report only real problems, each with the line it is on.
        Answer with the StructuredOutput tool: {"issues": [{"severity": "critical|high|medium|low|info", "file": "{}", "line": N, "message": "..."}]}.
        An empty list is a good answer for a file without problems.

        """;

    private const string Schema = """
        {
          "type": "object",
          "properties": {
            "issues": {
              "type": "array",
              "items": {
                "type": "object",
                "properties": {
                  "severity": { "type": "string", "enum": ["critical", "high", "medium", "low", "info"] },
                  "file": { "type": "string" },
                  "line": { "type": "integer", "minimum": 1 },
                  "message": { "type": "string" }
                },
                "required": ["severity", "file", "line", "message"]
              }
            }
          },
          "required": ["issues"]
        }

        """;
}
