using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Logging;
using Tomalign.Cli.Serve;
using Tomalign.Core;
using Tomalign.Core.IO;

namespace Tomalign.Cli.Batch;

/// <summary>
/// A batch: its series queued in OUT/tomalign-batch.db (serve's <see cref="JobStore"/>: a series is queued once, by its
/// stack, and keeps the name and the settings it was queued with), run through an executor, and summed up in
/// OUT/tomalign-batch.json. Running `batch` again on the same OUT goes on where the last one stopped: finished series
/// are left as they are, interrupted ones resume (local) or are re-attached to their SLURM tasks (slurm).
/// </summary>
internal sealed class BatchRunner : IDisposable
{
    public const string StoreFile = "tomalign-batch.db", SummaryFile = "tomalign-batch.json";
    private readonly ILogger _log;

    private BatchRunner(string outDir, BatchSettings settings, JobStore store, ILogger log)
    {
        Out = outDir;
        Settings = settings;
        Store = store;
        _log = log;
    }

    public string Out { get; }
    public BatchSettings Settings { get; }
    public JobStore Store { get; }

    public static BatchRunner Open(string outDir, BatchSettings settings, ILogger log, bool create = true)
    {
        string full = Path.GetFullPath(outDir);
        string db = Path.Combine(full, StoreFile);
        if (!create && !File.Exists(db))
            throw new TomalignInputException(full, "holds no batch (no tomalign-batch.db)", "give the --out folder of a `tomalign batch` run");
        try { Directory.CreateDirectory(full); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new TomalignInputException(full, $"cannot be created ({e.Message})", "give a writable --out folder");
        }
        return new BatchRunner(full, settings, JobStore.Open(db), log);
    }

    /// <summary>Queues the series not yet in this batch; returns how many were added.</summary>
    public int Queue(IEnumerable<BatchSeries> series)
    {
        string json = Settings.Run.ToJson();
        int added = 0;
        foreach (var s in series)
            if (Store.Add(s.Stack, s.Angles, json).Added) added++;
        return added;
    }

    public record Counts(int Total, int Queued, int Running, int Done, int Unreliable, int Failed, int Cancelled)
    {
        public bool Finished => Queued == 0 && Running == 0;
        public override string ToString() =>
            $"{Done + Unreliable + Failed + Cancelled}/{Total} finished: {Done} done, {Unreliable} unreliable, {Failed} failed" +
            (Cancelled > 0 ? $", {Cancelled} cancelled" : "") + $"; {Running} running, {Queued} queued";
    }

    public Counts Count()
    {
        var jobs = Store.List();
        int N(string s) => jobs.Count(j => j.State == s);
        return new Counts(jobs.Count, N(JobStates.Queued), N(JobStates.Running), N(JobStates.Done), N(JobStates.Unreliable), N(JobStates.Failed), N(JobStates.Cancelled));
    }

    /// <summary>The exit code of a finished batch: 0 all done; 4 some unreliable, none failed; 5 some failed; 130 cancelled.</summary>
    public static int ExitCode(Counts c) =>
        c.Cancelled > 0 ? ExitCodes.Cancelled : c.Failed > 0 ? ExitCodes.BatchFailed : c.Unreliable > 0 ? ExitCodes.Unreliable : ExitCodes.Ok;

    /// <summary>Writes OUT/tomalign-batch.json: the counts and every series' state, attempts, error, SLURM task and report.</summary>
    public string WriteSummary(string executor, IReadOnlyList<string>? tomalign = null)
    {
        var c = Count();
        var series = new JsonArray();
        foreach (var j in Store.List())
        {
            string dir = Path.Combine(Out, j.Name);
            string report = Path.Combine(dir, j.Name + ".run.json");
            series.Add(new JsonObject
            {
                ["name"] = j.Name,
                ["stack"] = j.Stack,
                ["angles"] = j.Angles,
                ["out"] = dir,
                ["state"] = j.State,
                ["error"] = j.Error,
                ["attempts"] = j.Attempts,
                ["slurmTask"] = j.SlurmId,
                ["stage"] = j.Stage,
                ["started"] = j.Started?.ToString("o"),
                ["finished"] = j.Finished?.ToString("o"),
                ["report"] = File.Exists(report) ? report : null,
            });
        }
        var o = new JsonObject
        {
            ["tool"] = "tomalign batch",
            ["executor"] = executor,
            ["out"] = Out,
            ["written"] = DateTimeOffset.UtcNow.ToString("o"),
            ["finished"] = c.Finished,
            ["counts"] = new JsonObject
            {
                ["total"] = c.Total, ["done"] = c.Done, ["unreliable"] = c.Unreliable, ["failed"] = c.Failed,
                ["cancelled"] = c.Cancelled, ["running"] = c.Running, ["queued"] = c.Queued,
            },
            ["retries"] = Settings.Retries,
            ["settings"] = JsonNode.Parse(Settings.Run.ToJson()),
            ["series"] = series,
        };
        if (tomalign is not null) o["tomalign"] = new JsonArray(tomalign.Select(t => (JsonNode?)JsonValue.Create(t)).ToArray());
        string path = Path.Combine(Out, SummaryFile);
        AtomicFile.WriteAllText(path, o.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
        return path;
    }

    /// <summary>Prints the counts when they changed since the last call.</summary>
    public void Progress(TextWriter output, ref string? last)
    {
        string now = Count().ToString();
        if (now == last) return;
        last = now;
        output.WriteLine($"batch: {now}");
        output.Flush();
        _log.LogDebug("batch: {Counts}", now);
    }

    public void Dispose() => Store.Dispose();
}
