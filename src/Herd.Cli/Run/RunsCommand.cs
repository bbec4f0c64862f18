using System.Globalization;
using System.Text;
using System.Text.Json;
using Herd.Fleet.Reports;
using Herd.Fleet.Store;

namespace Herd.Cli.Run;

/// <summary><c>herd runs list|show RUN [--json] [--root DIR]</c>: read run directories (spec §9 "reads the run directory").</summary>
public static class RunsCommand
{
    private const string Usage = "Usage: herd runs list [--root DIR] [--json]\n       herd runs show RUN|DIR [--root DIR] [--json]\n";

    public static int Run(string[] args, TextWriter stdout, TextWriter stderr, string cwd)
    {
        var json = args.Contains("--json");
        var rest = args.Where(a => a != "--json").ToList();
        var rootIndex = rest.IndexOf("--root");
        var root = Path.Combine(cwd, ".herd", "runs");
        if (rootIndex >= 0)
        {
            if (rootIndex + 1 >= rest.Count)
            {
                stderr.WriteLine("herd runs: --root needs a directory.");
                return 255;
            }
            root = Path.GetFullPath(rest[rootIndex + 1], cwd);
            rest.RemoveRange(rootIndex, 2);
        }
        switch (rest.FirstOrDefault())
        {
            case "list":
                return List(root, json, stdout);
            case "show" when rest.Count == 2:
                var dir = Directory.Exists(Path.GetFullPath(rest[1], cwd)) && RunStore.Exists(Path.GetFullPath(rest[1], cwd)) ? Path.GetFullPath(rest[1], cwd) : Path.Combine(root, rest[1]);
                if (!RunStore.Exists(dir))
                {
                    stderr.WriteLine($"herd runs: no run '{rest[1]}' (looked for {dir}/run.db). `herd runs list` shows the runs under {root}.");
                    return 255;
                }
                return Show(dir, json, stdout);
            case "-h" or "--help":
                stdout.Write(Usage);
                return 0;
            default:
                stderr.Write(Usage);
                return 255;
        }
    }

    private static int List(string root, bool json, TextWriter stdout)
    {
        var dirs = Directory.Exists(root) ? Directory.GetDirectories(root).Where(RunStore.Exists).OrderBy(d => d, StringComparer.Ordinal).ToArray() : [];
        if (!json)
            stdout.WriteLine($"{"RUN",-20} {"STATUS",-12} {"TASKS",6} {"DONE",6} {"FAILED",6} {"COST",10}  CREATED");
        foreach (var dir in dirs)
        {
            using var store = RunStore.Open(dir);
            var info = store.ReadRun();
            if (info is null)
                continue;
            var (status, exit) = store.ReadStatus();
            var totals = store.Totals();
            if (json)
            {
                stdout.WriteLine(Json(w =>
                {
                    w.WriteStartObject();
                    w.WriteString("run_id", info.RunId);
                    w.WriteString("dir", dir);
                    w.WriteString("status", status);
                    if (exit is { } x)
                        w.WriteNumber("exit_code", x);
                    w.WriteNumber("tasks", totals.Tasks);
                    w.WriteNumber("succeeded", Summary.Succeeded(totals));
                    w.WriteNumber("failed", Summary.Failed(totals));
                    w.WriteNumber("unfinished", totals.Unfinished);
                    w.WriteNumber("cost_usd", Math.Round(totals.SpentUsd, 9));
                    w.WriteString("created", RunStore.Iso(info.Created));
                    w.WriteEndObject();
                }));
            }
            else
            {
                stdout.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"{info.RunId,-20} {status,-12} {totals.Tasks,6} {totals.Tasks - totals.Unfinished,6} {Summary.Failed(totals),6} {"$" + totals.SpentUsd.ToString("0.####", CultureInfo.InvariantCulture),10}  {RunStore.Iso(info.Created)}"));
            }
        }
        return 0;
    }

    private static int Show(string dir, bool json, TextWriter stdout)
    {
        using var store = RunStore.Open(dir);
        var info = store.ReadRun()!;
        var (status, exit) = store.ReadStatus();
        var totals = store.Totals();
        if (json)
        {
            var text = Summary.Build(info, totals, status, exit ?? -1, TimeSpan.Zero, null, null);
            using var doc = JsonDocument.Parse(text);
            stdout.WriteLine(Json(w => doc.RootElement.WriteTo(w)));
            return 0;
        }
        stdout.WriteLine($"run        {info.RunId}");
        stdout.WriteLine($"directory  {dir}");
        stdout.WriteLine($"status     {status}{(exit is { } x ? $" (exit {x})" : "")}");
        stdout.WriteLine($"created    {RunStore.Iso(info.Created)}");
        stdout.WriteLine($"engine     {info.Engine} {info.EngineVersion}");
        stdout.WriteLine($"tasks      {totals.Tasks} ({totals.Tasks - totals.Unfinished} finished, {totals.Unfinished} unfinished; {totals.Attempts} attempts)");
        foreach (var (cls, n) in totals.ByClass)
            stdout.WriteLine($"  {cls,-22} {n,6}");
        stdout.WriteLine(string.Create(CultureInfo.InvariantCulture, $"cost       ${totals.SpentUsd:0.######}"));
        stdout.WriteLine(string.Create(CultureInfo.InvariantCulture, $"tokens     in {totals.Tokens.InputTokens}, out {totals.Tokens.OutputTokens}, cache read {totals.Tokens.CacheReadInputTokens}, cache write {totals.Tokens.CacheCreationInputTokens}"));
        stdout.WriteLine($"results    {Path.Combine(dir, "results.ndjson")}");
        return 0;
    }

    private static string Json(Action<Utf8JsonWriter> body)
    {
        using var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer))
            body(w);
        return Encoding.UTF8.GetString(buffer.ToArray());
    }
}
