using System.Net;
using System.Net.NetworkInformation;

namespace Tomalign.Cli.Serve;

/// <summary>
/// The Host header values the service answers (the DNS-rebinding defence: a page of another site whose name is made to
/// resolve to this machine sends its own name as Host, so it is refused even though the browser treats it as
/// same-origin). Always the loopback names (127.0.0.1, localhost, [::1]); plus the host of each --urls address; for an
/// address on all interfaces (0.0.0.0, [::], *, +), this machine's name and the addresses of its interfaces.
/// Ports are not compared (the listener already fixes them).
/// </summary>
internal sealed class HostFilter
{
    private readonly HashSet<string> _allowed = new(StringComparer.OrdinalIgnoreCase) { "127.0.0.1", "localhost", "[::1]", "::1" };

    public HostFilter(string urls)
    {
        foreach (string url in urls.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            string host = HostOf(url);
            if (host is "*" or "+" or "0.0.0.0" or "[::]" or "::")
                AddThisMachine();
            else if (host.Length > 0)
                _allowed.Add(host);
        }
    }

    public IReadOnlyCollection<string> Allowed => _allowed;

    /// <summary>True when <paramref name="host"/> (the request's Host without its port) is one the service listens as.</summary>
    public bool Accepts(string? host) => !string.IsNullOrEmpty(host) && _allowed.Contains(host.TrimEnd('.'));

    /// <summary>The host of a listening address such as http://127.0.0.1:5080, http://[::1]:0 or http://*:80.</summary>
    internal static string HostOf(string url)
    {
        int scheme = url.IndexOf("://", StringComparison.Ordinal);
        string rest = scheme >= 0 ? url[(scheme + 3)..] : url;
        int slash = rest.IndexOf('/');
        if (slash >= 0) rest = rest[..slash];
        if (rest.StartsWith('['))
        {
            int close = rest.IndexOf(']');
            return close > 0 ? rest[..(close + 1)] : rest;
        }
        int colon = rest.LastIndexOf(':');
        return colon >= 0 ? rest[..colon] : rest;
    }

    private void AddThisMachine()
    {
        _allowed.Add(Environment.MachineName);
        try
        {
            _allowed.Add(Dns.GetHostName());
            foreach (var nic in NetworkInterface.GetAllNetworkInterfaces())
                foreach (var a in nic.GetIPProperties().UnicastAddresses)
                {
                    var ip = a.Address;
                    if (ip.IsIPv6LinkLocal) ip.ScopeId = 0;
                    string text = ip.ToString();
                    _allowed.Add(ip.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 ? $"[{text}]" : text);
                }
        }
        catch (Exception e) when (e is NetworkInformationException or System.Net.Sockets.SocketException or PlatformNotSupportedException)
        {
            // The machine's name alone, then.
        }
    }
}
