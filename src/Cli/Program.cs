namespace Tomalign.Cli;

public static class Program
{
    public static int Main(string[] args)
    {
        using var cts = new CancellationTokenSource();
        Console.CancelKeyPress += (_, e) => { e.Cancel = true; cts.Cancel(); };
        Commands.Cancellation = cts.Token;
        return CliApp.Run(args);
    }
}
