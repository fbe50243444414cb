using System.CommandLine;
using Microsoft.Extensions.Logging;
using Tomalign.Cli.Batch;
using Tomalign.Cli.Serve;
using Tomalign.Core;

namespace Tomalign.Cli;

internal static partial class Commands
{
    /// <summary>Many series at once, each as `run --resume` into OUT/NAME/, through a local worker pool or one SLURM job array.</summary>
    private static Command Batch(TextWriter stdout, TextWriter stderr)
    {
        var inputs = new Argument<string[]>("INPUT")
        {
            Description = "Tilt series: folders (every stack in them), globs (quoted: 'data/*.mrc'), list files (one input a line) or SerialEM .mdoc " +
                          "files; each stack's angles are found beside it as serve finds them (NAME.rawtlt, NAME.tlt, NAME.mrc.mdoc, NAME.mdoc).",
            Arity = ArgumentArity.ZeroOrMore,
        };
        var output = new Option<string?>("--out", "-o") { Description = "Output folder: OUT/NAME/ per series, the queue (tomalign-batch.db) and the summary (tomalign-batch.json)." };
        var settings = new Option<string?>("--settings")
        {
            Description = "JSON settings: serve's fields (the run options), \"retries\" (restarts after infrastructure faults, default 2) and " +
                          "\"slurm\" (partition, account, qos, time, gpus, gpuFlag, gpuType, cpus, memory, throttle, tomalign, extra, setup, pollSeconds).",
        };
        var executor = new Option<string>("--executor") { Description = "local (a worker pool on this machine) or slurm (one SLURM job array).", DefaultValueFactory = _ => "local" };
        executor.AcceptOnlyFromAmong("local", "slurm");
        var workers = new Option<int>("--workers") { Description = "local: series run at the same time.", DefaultValueFactory = _ => 1 };
        var detach = new Option<bool>("--detach") { Description = "slurm: return once the array is submitted; see the progress with tomalign batch --status OUT." };
        var status = new Option<string?>("--status") { Description = "Report the batch in this folder (and, for SLURM, look at its tasks once); runs nothing." };
        var cmd = new Command("batch",
            "Run many tilt series, each as `tomalign run --resume` into OUT/NAME/ with serve's settings file, on this machine (--executor local) " +
            "or as one SLURM job array (--executor slurm: one task per series, requeued when killed; infrastructure faults retried, bad input failed once). " +
            "Running it again on the same OUT goes on where it stopped. Exit 0: all done; 4: some unreliable; 5: some failed; 130: cancelled.")
        { inputs, output, settings, executor, workers, detach, status };
        SetBody(cmd, stdout, stderr, (p, ctx) =>
        {
            var batchSettings = BatchSettings.Load(p.GetValue(settings));
            if (p.GetValue(status) is { } statusDir) return BatchStatus(ctx, statusDir, batchSettings);
            string outDir = p.GetValue(output) ?? throw new TomalignInputException(null, "missing --out", "give the output folder: tomalign batch INPUT... --out DIR");
            string[] given = p.GetValue(inputs) ?? [];
            string kind = p.GetValue(executor)!;
            if (p.GetValue(workers) is < 1 or > 256)
                throw new TomalignInputException(null, $"--workers {p.GetValue(workers)} is out of range", "give 1 to 256");
            if (p.GetValue(detach) && kind != "slurm")
                throw new TomalignInputException(null, "--detach needs --executor slurm", "drop --detach, or use --executor slurm");
            using var runner = BatchRunner.Open(outDir, batchSettings, ctx.Log);
            if (given.Length > 0)
            {
                var skipped = new List<string>();
                var series = BatchInputs.Expand(given, skipped);
                foreach (string s in skipped) ctx.Log.LogWarning("skipped {Why}", s);
                int added = runner.Queue(series);
                ctx.Out.WriteLine($"batch: {series.Count} series given, {added} new, in {runner.Out}");
            }
            else if (runner.Store.List().Count == 0)
                throw new TomalignInputException(null, "no INPUT given and no batch in --out", "give the series: tomalign batch INPUT... --out DIR");
            return kind == "slurm"
                ? RunSlurm(ctx, runner, p.GetValue(detach))
                : RunLocal(ctx, runner, p.GetValue(workers));
        });
        return cmd;
    }

    private static int RunLocal(CliContext ctx, BatchRunner runner, int workers)
    {
        if (runner.Store.List().FirstOrDefault(j => j.State == JobStates.Running && j.SlurmJob is not null) is { } onSlurm)
            throw new TomalignInputException(runner.Out, $"has series running on SLURM ({onSlurm.Name}: task {onSlurm.SlurmId})",
                "go on with --executor slurm, or scancel the job and give another --out");
        runner.Store.RequeueInterrupted();
        var worker = new JobWorker(runner.Store, runner.Out, workers, LogLevel.Information, ctx.Log, ctx.GpuMemoryLimit, runner.Settings.Retries);
        worker.Start();
        string? last = null;
        bool cancelled = false;
        try
        {
            while (true)
            {
                runner.Progress(ctx.Out, ref last);
                if (runner.Count().Finished) break;
                if (Cancellation.WaitHandle.WaitOne(TimeSpan.FromMilliseconds(500))) { cancelled = true; break; }
            }
        }
        finally
        {
            worker.StopAsync(TimeSpan.FromSeconds(cancelled ? 10 : 1)).GetAwaiter().GetResult();
        }
        return Finish(ctx, runner, "local", null, cancelled);
    }

    private static int RunSlurm(CliContext ctx, BatchRunner runner, bool detach)
    {
        // Series left running by a local run (no SLURM task) are queued again, to resume.
        foreach (var j in runner.Store.List().Where(j => j.State == JobStates.Running && j.SlurmJob is null)) runner.Store.Requeue(j.Id);
        if (!SlurmCommands.Available())
            throw new TomalignInputException(null, "SLURM's commands (sbatch, squeue, scontrol, scancel) are not on the PATH",
                "run on a SLURM login node, or use --executor local (tools/slurm-test-cluster.sh starts a one-node SLURM for tests)");
        var slurm = new SlurmExecutor(runner.Store, runner.Out, runner.Settings, ctx.Log);
        var tomalign = slurm.TomalignCommand();
        ctx.Log.LogInformation("SLURM tasks run {Tomalign}", string.Join(' ', tomalign));
        Submit(slurm);
        if (detach)
        {
            string summary = runner.WriteSummary("slurm", tomalign);
            ctx.Out.WriteLine($"batch: submitted; follow it with tomalign batch --status {runner.Out} (summary: {summary})");
            return ExitCodes.Ok;
        }
        string? last = null;
        bool cancelled = false;
        var poll = TimeSpan.FromSeconds(runner.Settings.Slurm.PollSeconds);
        while (true)
        {
            if (slurm.Poll())
            {
                // Series queued again after a fault go out as a new array; a refused sbatch is tried again at the next look.
                try { slurm.SubmitQueued(); }
                catch (SlurmException e) { ctx.Log.LogWarning("{Message}; trying again in {Seconds} s", e.Message, poll.TotalSeconds); }
            }
            runner.Progress(ctx.Out, ref last);
            if (runner.Count().Finished) break;
            if (Cancellation.WaitHandle.WaitOne(poll)) { cancelled = true; break; }
        }
        if (cancelled)
        {
            try { slurm.CancelAll("cancelled with the batch (Ctrl-C)"); }
            catch (SlurmException e) { ctx.Log.LogError("the batch's SLURM jobs could not be cancelled: {Message}; scancel them by hand", e.Message); }
        }
        return Finish(ctx, runner, "slurm", tomalign, cancelled);
    }

    private static void Submit(SlurmExecutor slurm)
    {
        try { slurm.SubmitQueued(); }
        catch (SlurmException e)
        {
            throw new TomalignInputException(null, $"SLURM refused the batch: {e.Message}",
                "check that SLURM runs (sinfo) and that the settings' slurm options (partition, account, gpus, memory, time) fit the cluster");
        }
    }

    private static int Finish(CliContext ctx, BatchRunner runner, string executor, IReadOnlyList<string>? tomalign, bool cancelled)
    {
        string summary = runner.WriteSummary(executor, tomalign);
        var counts = runner.Count();
        foreach (var j in runner.Store.List().Where(j => j.State is JobStates.Failed or JobStates.Unreliable))
            ctx.Out.WriteLine($"  {j.Name}: {j.State}: {j.Error}");
        ctx.Out.WriteLine($"batch: {counts}; summary {summary}");
        if (cancelled) return ExitCodes.Cancelled;
        return BatchRunner.ExitCode(counts);
    }

    private static int BatchStatus(CliContext ctx, string dir, BatchSettings settings)
    {
        using var runner = BatchRunner.Open(dir, settings, ctx.Log, create: false);
        bool slurm = runner.Store.List().Any(j => j.SlurmJob is not null);
        if (slurm && runner.Store.List().Any(j => j.State == JobStates.Running) && SlurmCommands.Available())
            new SlurmExecutor(runner.Store, runner.Out, settings, ctx.Log).Poll();
        foreach (var j in runner.Store.List())
            ctx.Out.WriteLine($"  {j.Name}: {j.State}{(j.Stage is { } s && j.State == JobStates.Running && s != "running" ? $" ({s})" : "")}" +
                              $"{(j.SlurmId is { } t ? $", SLURM task {t}" : "")}, attempts {j.Attempts}{(j.Error is { } e ? $": {e}" : "")}");
        var counts = runner.Count();
        string summary = runner.WriteSummary(slurm ? "slurm" : "local");
        ctx.Out.WriteLine($"batch: {counts}; summary {summary}");
        if (counts.Queued > 0)
            ctx.Out.WriteLine($"batch: {counts.Queued} series queued (new, or again after a fault): run the batch command again on --out {runner.Out} to send them");
        return counts.Finished ? BatchRunner.ExitCode(counts) : ExitCodes.Ok;
    }
}
