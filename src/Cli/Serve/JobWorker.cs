using System.Collections.Concurrent;
using System.Diagnostics;
using Microsoft.Extensions.Logging;
using Tomalign.Core.Backend;
using Tomalign.Core.Formats;
using Tomalign.Core.Pipeline;
using Tomalign.Core.Quality;

namespace Tomalign.Cli.Serve;

/// <summary>
/// Runs queued jobs, <c>workers</c> at a time, each as `tomalign run` would (outputs in OUT/NAME/,
/// the job's log in OUT/NAME/NAME.serve.log). A failed job is marked failed with its one-line
/// error and the queue goes on. Stopping stops the running jobs at their next stage boundary and lets a running
/// stage finish for most of the grace period; then the stage itself is cancelled (its next check: a backend call, a
/// SIRT iteration), so the job ends cleanly within the grace period. A job stopped that way (or abandoned when even
/// that did not end in time) is requeued and resumes at the next start. A user's cancel stops the running stage at once.
/// </summary>
/// <remarks>
/// <paramref name="retries"/>: a job that fails for a reason other than its input (an internal or I/O error, which may
/// pass) is queued again, to resume, up to that many times; a bad input fails at once (serve: 0, every failure is final).
/// </remarks>
internal sealed class JobWorker(JobStore store, string outDir, int workers, LogLevel jobLogLevel, ILogger log, long? gpuMemoryLimit = null, int retries = 0)
{
    private readonly CancellationTokenSource _stop = new();
    private readonly SemaphoreSlim _wake = new(0);
    private readonly ConcurrentDictionary<long, CancellationTokenSource> _running = new();
    private readonly object _finishGate = new();
    private bool _abandoned;
    private Task[] _loops = [];

    public void Start() => _loops = Enumerable.Range(0, workers).Select(_ => Task.Run(Loop)).ToArray();

    /// <summary>Tells an idle worker that a job was queued.</summary>
    public void Wake() => _wake.Release();

    /// <summary>Asks a running job to stop at its next stage boundary; false when it is not running here.</summary>
    public bool CancelRunning(long id)
    {
        if (!_running.TryGetValue(id, out var cts)) return false;
        cts.Cancel();
        return true;
    }

    /// <summary>
    /// Stops taking jobs and stops the running ones at their next stage boundary; a running stage may finish within
    /// most of <paramref name="grace"/>, then it is cancelled; whatever has not ended by then is abandoned.
    /// </summary>
    public async Task StopAsync(TimeSpan grace)
    {
        _stop.Cancel();
        var all = Task.WhenAll(_loops);
        // The last quarter of the grace period (at most 5 s) is left for a cancelled stage to stop and clean up.
        var finish = grace - TimeSpan.FromTicks(Math.Min(grace.Ticks / 4, TimeSpan.FromSeconds(5).Ticks));
        if (await Task.WhenAny(all, Task.Delay(finish)) != all)
        {
            foreach (var running in _running.Values)
            {
                try { running.Cancel(); }
                catch (ObjectDisposedException) { /* the job has just ended */ }
            }
            await Task.WhenAny(all, Task.Delay(grace - finish));
        }
        if (!all.IsCompleted)
        {
            lock (_finishGate)
            {
                _abandoned = true;
                foreach (long id in _running.Keys)
                {
                    store.Requeue(id);
                    log.LogWarning("job {Id} abandoned at shutdown (its stage did not stop within {Grace} s): queued again, to resume at the next start",
                        id, grace.TotalSeconds);
                }
            }
        }
    }

    private async Task Loop()
    {
        while (!_stop.IsCancellationRequested)
        {
            Job? job;
            try { job = store.ClaimNext(); }
            catch (Exception e)
            {
                log.LogError("the job queue could not be read: {Message}", e.Message);
                job = null;
            }
            if (job is null)
            {
                try { await _wake.WaitAsync(TimeSpan.FromSeconds(1), _stop.Token); }
                catch (OperationCanceledException) { }
                continue;
            }
            // Cancelled by a user's cancel, or by StopAsync when a stage outlasts the grace period (a stop stops at stage boundaries first).
            using var cts = new CancellationTokenSource();
            _running[job.Id] = cts;
            var clock = Stopwatch.StartNew();
            log.LogInformation("job {Id} ({Name}) started, attempt {Attempt}{Resume}", job.Id, job.Name, job.Attempts, job.Resume ? ", resuming" : "");
            string state, message;
            string? error = null;
            try
            {
                var quality = await Task.Factory.StartNew(() => Run(job, cts.Token), cts.Token, TaskCreationOptions.LongRunning, TaskScheduler.Default);
                if (quality.Verdict == Verdict.Unreliable)
                {
                    error = "alignment " + quality.Summary();
                    (state, message) = (JobStates.Unreliable, error);
                }
                else (state, message) = (JobStates.Done, $"done ({quality.Name})");
            }
            catch (Exception e) when (cts.IsCancellationRequested || (e is OperationCanceledException && _stop.IsCancellationRequested))
            {
                (state, message) = _stop.IsCancellationRequested ? (JobStates.Queued, "stopped by the shutdown, queued again") : (JobStates.Cancelled, "cancelled");
                if (e is not OperationCanceledException) log.LogDebug(e, "job {Id} ended while cancelled", job.Id);
            }
            catch (Exception e)
            {
                var (code, text) = CliApp.Explain(e);
                error = text;
                (state, message) = code != ExitCodes.InputError && job.Attempts <= retries
                    ? (JobStates.Queued, $"failed (attempt {job.Attempts} of {retries + 1}): {text}; queued again, to resume")
                    : (JobStates.Failed, "failed: " + error);
                log.LogDebug(e, "job {Id} failed", job.Id);
            }
            lock (_finishGate)
            {
                _running.TryRemove(job.Id, out _);
                if (_abandoned) continue;
                try
                {
                    if (state == JobStates.Queued) store.Requeue(job.Id);
                    else store.Finish(job.Id, state, error);
                }
                catch (Exception e)
                {
                    // Left `running` in the table: the next start queues it again.
                    log.LogError("job {Id} ended ({State}) but the queue could not record it: {Message}", job.Id, state, e.Message);
                    continue;
                }
            }
            var level = state is JobStates.Failed or JobStates.Unreliable ? LogLevel.Warning : LogLevel.Information;
            log.Log(level, "job {Id} ({Name}) {Message} after {Seconds:F1} s", job.Id, job.Name, message, clock.Elapsed.TotalSeconds);
        }
    }

    /// <summary>
    /// The half-written outputs of an interrupted attempt (".NAME.EXT.tmp-GUID" of AtomicFile, "NAME.EXT.tmp-ID"
    /// of MrcWriter): only one attempt of a job runs at a time, so none of them is still being written.
    /// </summary>
    private static void RemoveTemporaryFiles(string dir, TextWriter logFile)
    {
        foreach (string tmp in Directory.EnumerateFiles(dir, "*.tmp-*"))
        {
            File.Delete(tmp);
            logFile.WriteLine($"removed {Path.GetFileName(tmp)}, left by the interrupted attempt");
        }
    }

    /// <summary>One job, as `tomalign run --out OUT/NAME --name NAME [--resume]` with the job's settings.</summary>
    private QualityVerdict Run(Job job, CancellationToken cancel)
    {
        var settings = ServeSettings.Parse(job.Settings, null);
        string dir = Path.Combine(outDir, job.Name);
        Directory.CreateDirectory(dir);
        using var logFile = new StreamWriter(Path.Combine(dir, job.Name + ".serve.log"), append: true) { AutoFlush = true };
        logFile.WriteLine($"--- job {job.Id}, attempt {job.Attempts}{(job.Resume ? " (resuming)" : "")}, {DateTimeOffset.UtcNow:u}: {job.Stack}");
        using var ctx = new CliContext(TextWriter.Null, logFile, jobLogLevel, progress: false) { GpuMemoryLimit = gpuMemoryLimit, Cancel = cancel };
        if (job.Resume) RemoveTemporaryFiles(dir, logFile);
        try
        {
            string angles = job.Angles;
            if (angles.EndsWith(".mdoc", StringComparison.OrdinalIgnoreCase))
            {
                // SerialEM's angles, as the .rawtlt the run reads (the input folder is never written to).
                angles = Path.Combine(dir, job.Name + ".rawtlt");
                ImodText.WriteAngles(angles, SerialEmMdoc.ReadTiltAngles(job.Angles));
            }
            var spec = settings.ToSpec(job.Stack, angles, dir, job.Name, job.Resume);
            using var backend = Backends.Create(Commands.ParseDevice(spec.Device), ctx);
            var result = new TiltSeriesPipeline(backend).RunAndReport(spec,
                PipelineOptions.Context(ctx, arguments: spec.ToArguments(), cancel: cancel, stageStarted: stage =>
                {
                    _stop.Token.ThrowIfCancellationRequested();   // a stop ends the job at its next stage boundary
                    store.SetStage(job.Id, stage);
                }));
            logFile.WriteLine($"quality: {result.Quality.Name}");
            foreach (var r in result.Quality.Reasons) logFile.WriteLine($"  {r}");
            return result.Quality;
        }
        catch (Exception e)
        {
            logFile.WriteLine(CliApp.Explain(e).Message);
            throw;
        }
    }
}
