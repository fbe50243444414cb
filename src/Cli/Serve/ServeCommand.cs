using System.CommandLine;
using System.Runtime.InteropServices;
using Microsoft.Extensions.Logging;
using Tomalign.Cli.Serve;

namespace Tomalign.Cli;

internal static partial class Commands
{
    /// <summary>The job service: watches a folder, queues and runs every new series, serves the API and the job page.</summary>
    private static Command Serve(TextWriter stdout, TextWriter stderr)
    {
        var watch = new Option<string>("--watch") { Description = "Folder to watch for new tilt series (a stack with its .rawtlt/.tlt or SerialEM .mdoc beside it).", Required = true };
        var output = new Option<string>("--out", "-o") { Description = "Output folder: one subfolder per series (OUT/NAME/) and the job queue (tomalign-serve.db).", Required = true };
        var settings = new Option<string?>("--settings") { Description = "JSON file with the processing settings of every job (see the README); default: markerless, thickness 100, WBP." };
        var urls = new Option<string>("--urls") { Description = "Address of the API and the job page (loopback by default; port 0: any free port).", DefaultValueFactory = _ => "http://127.0.0.1:5080" };
        var workers = new Option<int>("--workers") { Description = "Jobs run at the same time.", DefaultValueFactory = _ => 1 };
        var settle = new Option<double>("--settle") { Description = "Seconds a new file must keep its size and time before it is queued (still being copied otherwise).", DefaultValueFactory = _ => 5 };
        var executor = new Option<string>("--executor")
        {
            Description = "local (--workers on this machine) or slurm (queued jobs go to SLURM as job arrays, with the settings file's \"slurm\" options; " +
                          "the queue records each job's SLURM task, and a restart re-attaches to them).",
            DefaultValueFactory = _ => "local",
        };
        executor.AcceptOnlyFromAmong("local", "slurm");
        var grace = new Option<double>("--grace") { Description = "At shutdown, seconds to wait for the running stage before abandoning it (it resumes at the next start).", DefaultValueFactory = _ => 30 };
        var cmd = new Command("serve",
            "Run as a service: queue every new tilt series in --watch, process each as `run` does (outputs in OUT/NAME/), and serve an HTTP " +
            "API and a job page. The queue lives in OUT/tomalign-serve.db: a restart resumes where it stopped. Stop with Ctrl-C or SIGTERM.")
        { watch, output, settings, urls, workers, settle, grace, executor };
        SetBody(cmd, stdout, stderr, (p, ctx) =>
        {
            bool verbose = p.GetValue(CliApp.Verbose), quiet = p.GetValue(CliApp.Quiet);
            var level = verbose ? LogLevel.Debug : quiet ? LogLevel.Warning : LogLevel.Information;
            bool onSlurm = p.GetValue(executor) == "slurm";
            // One settings file for both executors: its "slurm" and "retries" fields are used with --executor slurm only.
            var all = Tomalign.Cli.Batch.BatchSettings.Load(p.GetValue(settings));
            var slurm = onSlurm ? all : null;
            if (onSlurm && !Tomalign.Cli.Batch.SlurmCommands.Available())
                throw new Tomalign.Core.TomalignInputException(null, "SLURM's commands (sbatch, squeue, scontrol, scancel) are not on the PATH",
                    "run serve on a SLURM login node, or use --executor local");
            var options = new ServeOptions(p.GetValue(watch)!, p.GetValue(output)!, all.Run, p.GetValue(urls)!,
                p.GetValue(workers), Seconds(p.GetValue(settle), "--settle"), Seconds(p.GetValue(grace), "--grace"), ctx.GpuMemoryLimit, slurm);
            using var stop = CancellationTokenSource.CreateLinkedTokenSource(Cancellation);
            using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, c => { c.Cancel = true; stop.Cancel(); });
            bool interrupted = false;   // Ctrl-C ends with 130 (interrupted), SIGTERM (a service manager's stop) with 0
            using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, c => { c.Cancel = true; interrupted = true; stop.Cancel(); });
            var service = ServeService.StartAsync(options, new TextWriterLoggerProvider(ctx.Err, level), level).GetAwaiter().GetResult();
            try
            {
                ctx.Out.WriteLine($"listening on {service.Address}");
                ctx.Out.WriteLine($"watching {service.Options.Watch}; outputs and the queue in {service.Options.Out}");
                ctx.Out.Flush();
                stop.Token.WaitHandle.WaitOne();
            }
            finally
            {
                service.DisposeAsync().AsTask().GetAwaiter().GetResult();
            }
            return interrupted || Cancellation.IsCancellationRequested ? ExitCodes.Cancelled : ExitCodes.Ok;
        });
        return cmd;
    }

    private static TimeSpan Seconds(double value, string option) =>
        double.IsFinite(value) && value >= 0 && value < 1e6
            ? TimeSpan.FromSeconds(value)
            : throw new Tomalign.Core.TomalignInputException(null, $"{option} {value} is not a number of seconds", $"give {option} in seconds, e.g. {option} 5");
}
