using System.CommandLine;
using Microsoft.Extensions.Logging;
using Tomalign.Core;

namespace Tomalign.Cli;

/// <summary>Exit codes of the tomalign command (documented in the README).</summary>
public static class ExitCodes
{
    public const int Ok = 0;
    /// <summary>An unexpected failure inside Tomalign (a bug): the message says what, --verbose shows the trace.</summary>
    public const int InternalError = 1;
    /// <summary>Bad input or options: the message names the file, what is wrong, and the fix.</summary>
    public const int InputError = 2;
    /// <summary>verify found a kernel disagreeing with its CPU twin.</summary>
    public const int VerifyFailed = 3;
    /// <summary>The alignment was completed and its outputs written, but its quality verdict is unreliable (the reasons are printed and in the report).</summary>
    public const int Unreliable = 4;
    /// <summary>Interrupted (Ctrl-C).</summary>
    public const int Cancelled = 130;
}

/// <summary>What every command gets: output streams, logging, progress.</summary>
public sealed class CliContext(TextWriter stdout, TextWriter stderr, LogLevel level, bool progress) : IDisposable
{
    private readonly ILoggerFactory _factory = LoggerFactory.Create(b =>
        b.SetMinimumLevel(level).AddProvider(new TextWriterLoggerProvider(stderr, level)));

    public TextWriter Out { get; } = stdout;
    public TextWriter Err { get; } = stderr;
    public ILogger Log => _factory.CreateLogger("tomalign");
    public ILogger<T> LogFor<T>() => _factory.CreateLogger<T>();
    public IProgress<double> Progress(string label) => new ProgressLine(Err, label, progress);
    /// <summary>--gpu-memory: the most device memory a GPU backend plans with; null: all of it.</summary>
    public long? GpuMemoryLimit { get; init; }
    public void Dispose() => _factory.Dispose();
}

public static class CliApp
{
    internal static readonly Option<bool> Verbose = new("--verbose", "-v")
    { Description = "Show debug messages (and the stack trace of an internal error).", Recursive = true };
    internal static readonly Option<bool> Quiet = new("--quiet", "-q")
    { Description = "Show warnings and errors only, no progress.", Recursive = true };
    internal static readonly Option<string?> GpuMemory = new("--gpu-memory")
    {
        Description = "The most GPU memory a run plans with, e.g. 16G or 512M (default: all of the device's); stacks and volumes " +
                      "that do not fit go through in chunks and slabs. Environment: TOMALIGN_GPU_MEMORY.",
        Recursive = true,
    };

    /// <summary>
    /// Parses a memory size: bytes, or a number with K, M, G or T (powers of 1024; an optional B or iB after it).
    /// Null or empty: no limit. Anything else is an input error naming <paramref name="option"/>.
    /// </summary>
    internal static long? ParseMemorySize(string? text, string option = "--gpu-memory")
    {
        if (string.IsNullOrWhiteSpace(text)) return null;
        string t = text.Trim().ToUpperInvariant();
        if (t.EndsWith("IB")) t = t[..^2];
        else if (t.EndsWith('B')) t = t[..^1];
        long unit = 1;
        if (t.Length > 0 && "KMGT".Contains(t[^1]))
        {
            unit = t[^1] switch { 'K' => 1L << 10, 'M' => 1L << 20, 'G' => 1L << 30, _ => 1L << 40 };
            t = t[..^1];
        }
        if (!double.TryParse(t, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out double value)
            || !(value > 0) || value * unit > long.MaxValue / 2 || value * unit < 1)
            throw new TomalignInputException(null, $"{option} '{text}' is not a memory size", $"give a size such as {option} 16G or {option} 512M");
        return (long)(value * unit);
    }

    /// <summary>Runs the command line; returns the exit code. Never throws.</summary>
    public static int Run(string[] args, TextWriter? stdout = null, TextWriter? stderr = null)
    {
        stdout ??= Console.Out;
        stderr ??= Console.Error;
        var root = new RootCommand(
            "Tomalign: align cryo-electron tomography tilt series and reconstruct tomograms, on an NVIDIA GPU or any CPU.")
        {
            Verbose, Quiet, GpuMemory,
        };
        foreach (var command in Commands.All(stdout, stderr)) root.Add(command);
        var parse = root.Parse(args);
        var config = new InvocationConfiguration { Output = stdout, Error = stderr, EnableDefaultExceptionHandler = false };
        try
        {
            return parse.Invoke(config);
        }
        catch (Exception e)
        {
            return Report(e, stderr, parse.GetValue(Verbose));
        }
    }

    /// <summary>Turns an exception into one clear message and an exit code.</summary>
    internal static int Report(Exception e, TextWriter stderr, bool verbose)
    {
        ProgressLine.ClearIfActive(stderr);
        var (code, message) = Explain(e, verbose);
        stderr.WriteLine(message);
        if (code == ExitCodes.InternalError && verbose) stderr.WriteLine(e);
        return code;
    }

    /// <summary>The exit code and the one-line message for an exception (also a failed serve job's error).</summary>
    internal static (int Code, string Message) Explain(Exception e, bool verbose = false) => e switch
    {
        TomalignInputException input => (ExitCodes.InputError, $"error: {input.Message}"),
        OperationCanceledException => (ExitCodes.Cancelled, "cancelled: nothing was written for the unfinished output."),
        FileNotFoundException fnf => (ExitCodes.InputError, $"error: {fnf.FileName ?? fnf.Message}: file not found. Fix: check the path."),
        DirectoryNotFoundException dnf => (ExitCodes.InputError, $"error: {dnf.Message} Fix: check the path."),
        UnauthorizedAccessException ua => (ExitCodes.InputError, $"error: {ua.Message} Fix: check the file permissions."),
        IOException io => (ExitCodes.InputError, $"error: {io.Message} Fix: check the disk space and the path."),
        _ => (ExitCodes.InternalError, $"internal error: {e.GetType().Name}: {e.Message}. Please report it with the command line" +
            (verbose ? "." : " and the output of --verbose.")),
    };
}
