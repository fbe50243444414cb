using System.CommandLine;
using System.CommandLine.Invocation;
using System.CommandLine.Parsing;
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
    /// <summary>batch: at least one series failed (bad input, or infrastructure faults past its retries); the summary JSON names them.</summary>
    public const int BatchFailed = 5;
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
    /// <summary>A progress line; each report is also a check of <see cref="Cancel"/>.</summary>
    public IProgress<double> Progress(string label) => new ProgressLine(Err, label, progress, Cancel);
    /// <summary>--gpu-memory: the most device memory a GPU backend plans with; null: all of it.</summary>
    public long? GpuMemoryLimit { get; init; }
    /// <summary>The command's interruption (Ctrl-C, or a cancelled serve job): every backend call checks it.</summary>
    public CancellationToken Cancel { get; init; }
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

    /// <summary>
    /// Runs the command line; returns the exit code. Never throws. <paramref name="cancel"/> is the interruption
    /// (Ctrl-C in <see cref="Program"/>): every command stops at its next check and exits with 130.
    /// </summary>
    public static int Run(string[] args, TextWriter? stdout = null, TextWriter? stderr = null, CancellationToken cancel = default)
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
        // A usage error is one short message and exit 2, not the whole help and exit 1 (System.CommandLine's default).
        if (parse.Action is ParseErrorAction) return UsageError(parse, stderr);
        var config = new InvocationConfiguration { Output = stdout, Error = stderr, EnableDefaultExceptionHandler = false };
        var previous = Commands.Cancellation;
        Commands.Cancellation = cancel;
        try
        {
            return parse.Invoke(config);
        }
        catch (Exception e)
        {
            return Report(e, stderr, parse.GetValue(Verbose));
        }
        finally
        {
            Commands.Cancellation = previous;
        }
    }

    /// <summary>
    /// Prints the parse errors as "error: ..." lines (an option given a value of the wrong kind names the option and
    /// the kind it expects), then one usage line of the command and where its help is; returns <see cref="ExitCodes.InputError"/>.
    /// </summary>
    internal static int UsageError(ParseResult parse, TextWriter stderr)
    {
        var command = parse.CommandResult.Command;
        string path = CommandPath(parse.CommandResult);
        foreach (var message in Messages(parse, command).Distinct().Take(5))
            stderr.WriteLine($"error: {message}");
        if (command is RootCommand)
        {
            stderr.WriteLine($"usage: tomalign COMMAND [options], COMMAND one of {string.Join(", ", command.Subcommands.Select(c => c.Name))}; " +
                             "see tomalign --help, or tomalign COMMAND --help");
        }
        else
        {
            var parts = new List<string> { path };
            parts.AddRange(command.Arguments.Where(a => !a.Hidden).Select(a => a.Name));
            parts.AddRange(command.Options.Where(o => o.Required && !o.Hidden).Select(o => $"{o.Name} {ValueName(o)}"));
            parts.Add("[options]");
            stderr.WriteLine($"usage: {string.Join(' ', parts)}; see {path} --help");
        }
        return ExitCodes.InputError;
    }

    private static string CommandPath(CommandResult result)
    {
        var names = new List<string>();
        for (SymbolResult? r = result; r is CommandResult c; r = c.Parent)
            names.Insert(0, c.Command is RootCommand ? "tomalign" : c.Command.Name);
        return string.Join(' ', names);
    }

    private static string ValueName(Option o) => o.ValueType == typeof(bool) ? "" : o.Name.TrimStart('-').ToUpperInvariant().Replace('-', '_');

    /// <summary>
    /// The parse errors in words: unknown options and stray arguments, missing required options and arguments (built from
    /// the parse itself), values of the wrong kind, then any other error as System.CommandLine words it.
    /// </summary>
    private static IEnumerable<string> Messages(ParseResult parse, Command command)
    {
        var said = new List<string>();
        foreach (string token in parse.UnmatchedTokens)
            said.Add(token.StartsWith('-') ? $"unknown option '{token}'" : $"unexpected argument '{token}'");
        var missing = new List<string>();
        foreach (var option in command.Options.Where(o => o.Required && parse.GetResult(o) is not OptionResult { Implicit: false }))
            missing.Add(option.Name);
        foreach (var argument in command.Arguments.Where(a => a.Arity.MinimumNumberOfValues > 0 && !a.HasDefaultValue &&
                                                            (parse.GetResult(a) is not { } r || r.Tokens.Count == 0)))
            missing.Add(argument.Name);
        if (missing.Count > 0)
            said.Add($"missing {string.Join(", ", missing)} (required)");
        foreach (var error in parse.Errors)
        {
            if (IsConversionError(error, out string? typed)) { said.Add(typed!); continue; }
            if (parse.UnmatchedTokens.Any(t => error.Message.Contains($"'{t}'", StringComparison.Ordinal))) continue;
            // Missing options and arguments are said above (System.CommandLine reports them on the option, the argument or the command).
            if (missing.Count > 0 && error.SymbolResult switch
                {
                    OptionResult o => missing.Contains(o.Option.Name),
                    ArgumentResult { Parent: OptionResult o } => missing.Contains(o.Option.Name),
                    ArgumentResult a => missing.Contains(a.Argument.Name),
                    _ => true,
                }) continue;
            if (error.Message.StartsWith("Required command was not provided", StringComparison.Ordinal))
            {
                if (said.Count == 0) said.Add(command is RootCommand ? "no command given" : $"{command.Name} needs a subcommand");
                continue;
            }
            string text = System.Text.RegularExpressions.Regex.Replace(error.Message, @"\s+", " ").Trim().TrimEnd('.');
            string? owner = error.SymbolResult switch
            {
                OptionResult o => o.Option.Name,
                ArgumentResult { Parent: OptionResult o } => o.Option.Name,
                _ => null,
            };
            said.Add(owner is not null && !text.Contains(owner, StringComparison.Ordinal) ? $"{owner}: {text}" : text);
        }
        return said;
    }

    private static bool IsConversionError(ParseError error, out string? message)
    {
        message = null;
        if (error.SymbolResult is not (OptionResult or ArgumentResult)) return false;
        message = Describe(error, null!);
        return !ReferenceEquals(message, error.Message) && message.Contains(" expects ", StringComparison.Ordinal);
    }

    /// <summary>One parse error in words: a value of the wrong kind names the option and what it expects.</summary>
    private static string Describe(ParseError error, Command? command)
    {
        if (error.SymbolResult is OptionResult or ArgumentResult)
        {
            var (name, type, tokens) = error.SymbolResult switch
            {
                OptionResult o => (o.Option.Name, o.Option.ValueType, o.Tokens),
                ArgumentResult { Parent: OptionResult o } a => (o.Option.Name, a.Argument.ValueType, a.Tokens),
                ArgumentResult a => (a.Argument.Name, a.Argument.ValueType, a.Tokens),
                _ => ("", typeof(string), (IReadOnlyList<Token>)[]),
            };
            type = Nullable.GetUnderlyingType(type) ?? type;
            string? kind = KindOf(type);
            var bad = tokens.FirstOrDefault(t => kind is not null && !Converts(t.Value, type));
            if (bad is not null) return $"{name} expects {kind}, got '{bad.Value}'";
        }
        return error.Message;
    }

    private static string? KindOf(Type t) =>
        t == typeof(int) || t == typeof(long) || t == typeof(short) ? "a whole number" :
        t == typeof(double) || t == typeof(float) || t == typeof(decimal) ? "a number" :
        t == typeof(bool) ? "true or false" : null;

    private static bool Converts(string text, Type t)
    {
        var inv = System.Globalization.CultureInfo.InvariantCulture;
        var ns = System.Globalization.NumberStyles.Float;
        return t == typeof(int) ? int.TryParse(text, System.Globalization.NumberStyles.Integer, inv, out _)
            : t == typeof(long) ? long.TryParse(text, System.Globalization.NumberStyles.Integer, inv, out _)
            : t == typeof(short) ? short.TryParse(text, System.Globalization.NumberStyles.Integer, inv, out _)
            : t == typeof(double) ? double.TryParse(text, ns, inv, out _)
            : t == typeof(float) ? float.TryParse(text, ns, inv, out _)
            : t == typeof(decimal) ? decimal.TryParse(text, ns, inv, out _)
            : t == typeof(bool) ? bool.TryParse(text, out _)
            : true;
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
    internal static (int Code, string Message) Explain(Exception e, bool verbose = false) => Unwrap(e) switch
    {
        TomalignInputException input => (ExitCodes.InputError, $"error: {input.Message}"),
        OperationCanceledException => (ExitCodes.Cancelled, "cancelled: nothing was written for the unfinished output."),
        FileNotFoundException fnf => (ExitCodes.InputError, $"error: {fnf.FileName ?? fnf.Message}: file not found. Fix: check the path."),
        DirectoryNotFoundException dnf => (ExitCodes.InputError, $"error: {dnf.Message} Fix: check the path."),
        UnauthorizedAccessException ua => (ExitCodes.InputError, $"error: {ua.Message} Fix: check the file permissions."),
        IOException io => (ExitCodes.InputError, $"error: {io.Message} Fix: check the disk space and the path."),
        var other => (ExitCodes.InternalError, $"internal error: {other.GetType().Name}: {other.Message}. Please report it with the command line" +
            (verbose ? "." : " and the output of --verbose.")),
    };

    /// <summary>The one error inside an AggregateException (a parallel loop's): a cancellation or an input error stays what it is.</summary>
    private static Exception Unwrap(Exception e)
    {
        if (e is not AggregateException a) return e;
        var inner = a.Flatten().InnerExceptions;
        if (inner.Count > 0 && inner.All(x => x is OperationCanceledException)) return inner[0];
        return inner.FirstOrDefault(x => x is TomalignInputException) ?? (inner.Count == 1 ? inner[0] : e);
    }
}
