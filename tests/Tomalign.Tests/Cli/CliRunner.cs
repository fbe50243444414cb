using Tomalign.Cli;

namespace Tomalign.Tests.Cli;

/// <summary>Runs the tomalign command in-process and captures its output.</summary>
internal static class CliRunner
{
    public sealed record Outcome(int ExitCode, string Out, string Err)
    {
        public override string ToString() => $"exit {ExitCode}\n--- stdout\n{Out}\n--- stderr\n{Err}";
    }

    public static Outcome Run(params string[] args)
    {
        var o = new StringWriter();
        var e = new StringWriter();
        int code = CliApp.Run(args, o, e);
        return new Outcome(code, o.ToString(), e.ToString());
    }
}

/// <summary>A temporary folder removed after the test.</summary>
internal sealed class TempDir : IDisposable
{
    public TempDir() => Directory.CreateDirectory(Path);
    public string Path { get; } = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "tomalign-test-" + Guid.NewGuid().ToString("N"));
    public string File(string name) => System.IO.Path.Combine(Path, name);
    public string[] Files() => Directory.GetFiles(Path).Select(System.IO.Path.GetFileName).ToArray()!;
    public void Dispose() { try { Directory.Delete(Path, true); } catch (IOException) { } }
}
