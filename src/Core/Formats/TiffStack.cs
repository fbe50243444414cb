using System.Runtime.InteropServices;
using BitMiracle.LibTiff.Classic;

namespace Tomalign.Core.Formats;

/// <summary>
/// A multi-page TIFF tilt series (one view per page, as SerialEM and Tomo5 write them), read through BitMiracle's LibTiff.NET:
/// 8- and 16-bit unsigned and signed integers and 32-bit floats, one sample per pixel, in strips, uncompressed or compressed
/// (LZW, Deflate, PackBits, …, whatever libtiff decodes), either byte order. Every page must have the first page's size and
/// sample kind. Anything else (colour, tiles, 32-bit integers, 64-bit floats, bit depths below 8) is a
/// <see cref="TomalignInputException"/> naming the file and the conversion. <see cref="MrcReader"/> presents it as a stack:
/// its header is the MRC mode of the same samples (8-bit unsigned: mode 0 with the IMOD stamp, flags 0), no statistics, and
/// pixel size 1 (TIFF has none that SerialEM fills; an mdoc or --pixel gives it). Pages are decoded one at a time, on demand.
/// </summary>
internal sealed class TiffStack : IDisposable
{
    private readonly Tiff _tiff;
    private readonly object _lock = new();
    private float[]? _page;
    private int _pageIndex = -1;

    public string Path { get; }
    public int Nx { get; }
    public int Ny { get; }
    public int Nz { get; }
    public MrcMode Mode { get; }
    public bool Signed { get; }
    private readonly int _bytesPerSample;

    private TiffStack(string path, Tiff tiff, int nx, int ny, int nz, int bits, SampleFormat format)
    {
        Path = path; _tiff = tiff; Nx = nx; Ny = ny; Nz = nz;
        _bytesPerSample = bits / 8;
        Signed = format == SampleFormat.INT;
        Mode = (bits, format) switch
        {
            (8, _) => MrcMode.Int8,
            (16, SampleFormat.INT) => MrcMode.Int16,
            (16, _) => MrcMode.UInt16,
            _ => MrcMode.Float32,
        };
    }

    /// <summary>The MRC header that describes these pixels (for <see cref="MrcReader.Header"/>).</summary>
    public MrcHeader Header() => new()
    {
        Nx = Nx, Ny = Ny, Nz = Nz, Mode = Mode, Mx = Nx, My = Ny, Mz = Nz, HasMapId = true,
        ImodStamp = Mode == MrcMode.Int8 ? MrcHeader.ImodStampValue : 0, ImodFlags = Mode == MrcMode.Int8 && Signed ? 1 : 0,
        DMin = 0, DMax = -1, DMean = -2,   // not computed (MRC2014: DMAX < DMIN)
        Labels = [$"TIFF stack {System.IO.Path.GetFileName(Path)}: {Nz} pages of {Nx}×{Ny}, {Describe(_bytesPerSample * 8, Mode == MrcMode.Float32 ? SampleFormat.IEEEFP : Signed ? SampleFormat.INT : SampleFormat.UINT)}"],
    };

    /// <summary>Opens and checks every page of the TIFF at <paramref name="path"/>.</summary>
    public static TiffStack Open(string path)
    {
        string name = System.IO.Path.GetFileName(path), mrc = System.IO.Path.ChangeExtension(name, ".mrc");
        string convert = $"convert it to an MRC stack, e.g. with IMOD: tif2mrc {name} {mrc}";
        Tiff? tiff;
        var messages = new List<string>();
        lock (HandlerLock)
        {
            var previous = Tiff.SetErrorHandler(new Collect(messages));
            try { tiff = Tiff.Open(path, "r"); }
            finally { Tiff.SetErrorHandler(previous); }
        }
        if (tiff is null)
            throw new TomalignInputException(path, $"is a TIFF file that cannot be read ({string.Join("; ", messages.DefaultIfEmpty("not a valid TIFF"))})",
                $"copy it again, or {convert}");
        try
        {
            int pages = tiff.NumberOfDirectories();
            if (pages < 1) throw new TomalignInputException(path, "is a TIFF file without images", convert);
            int nx = 0, ny = 0, bits = 0;
            var format = SampleFormat.UINT;
            for (int p = 0; p < pages; p++)
            {
                if (!tiff.SetDirectory((short)p))
                    throw new TomalignInputException(path, $"is a TIFF file whose page {p + 1} of {pages} cannot be read", $"copy it again, or {convert}");
                int w = Int(tiff, TiffTag.IMAGEWIDTH), h = Int(tiff, TiffTag.IMAGELENGTH);
                int b = Int(tiff, TiffTag.BITSPERSAMPLE, 1), spp = Int(tiff, TiffTag.SAMPLESPERPIXEL, 1);
                var f = (SampleFormat)Int(tiff, TiffTag.SAMPLEFORMAT, (int)SampleFormat.UINT);
                if (spp != 1)
                    throw new TomalignInputException(path, $"is a TIFF file with {spp} samples per pixel (colour) on page {p + 1}; a tilt series has one (grey)", convert);
                if (tiff.IsTiled())
                    throw new TomalignInputException(path, $"is a tiled TIFF file (page {p + 1}); Tomalign reads TIFF stacks stored in strips, as SerialEM writes them",
                        $"{convert}, or rewrite it in strips (tiffcp -s {name} strips.tif)");
                if (!Supported(b, f))
                    throw new TomalignInputException(path, $"is a TIFF file of {Describe(b, f)} (page {p + 1}); Tomalign reads 8- and 16-bit integers and 32-bit floats",
                        convert);
                if (w < 1 || h < 1) throw new TomalignInputException(path, $"is a TIFF file whose page {p + 1} is {w}×{h} pixels", convert);
                if (p == 0) { nx = w; ny = h; bits = b; format = f; }
                else if (w != nx || h != ny || b != bits || f != format)
                    throw new TomalignInputException(path,
                        $"is a TIFF file whose page {p + 1} ({w}×{h}, {Describe(b, f)}) differs from page 1 ({nx}×{ny}, {Describe(bits, format)}); a tilt series has views of one size and kind",
                        "give one view per page, all alike (SerialEM's stacks are so), or convert the views with IMOD's tif2mrc and newstack");
            }
            if ((long)nx * ny > Array.MaxLength)
                throw new TomalignInputException(path, $"one page of {nx}×{ny} pixels is too large to handle in memory", "bin or cut the images first, e.g. IMOD newstack -bin 2");
            return new TiffStack(path, tiff, nx, ny, pages, bits, format);
        }
        catch
        {
            tiff.Dispose();
            throw;
        }
    }

    /// <summary>Copies pixels <paramref name="firstPixel"/> … (counted through the pages, x fastest) into <paramref name="destination"/>.</summary>
    public void ReadPixels(long firstPixel, Span<float> destination)
    {
        long section = (long)Nx * Ny;
        lock (_lock)
        {
            for (int done = 0; done < destination.Length;)
            {
                long pixel = firstPixel + done;
                int z = (int)(pixel / section), offset = (int)(pixel % section);
                var page = Page(z);
                int n = (int)Math.Min(destination.Length - done, section - offset);
                page.AsSpan(offset, n).CopyTo(destination.Slice(done, n));
                done += n;
            }
        }
    }

    private float[] Page(int z)
    {
        if (_pageIndex == z && _page is not null) return _page;
        if (!_tiff.SetDirectory((short)z))
            throw new TomalignInputException(Path, $"page {z + 1} of the TIFF stack cannot be read", "copy the file again");
        var page = _page ?? new float[(long)Nx * Ny];
        _pageIndex = -1;
        var line = new byte[Math.Max(_tiff.ScanlineSize(), Nx * _bytesPerSample)];
        var messages = new List<string>();
        for (int y = 0; y < Ny; y++)
        {
            bool ok;
            lock (HandlerLock)
            {
                var previous = Tiff.SetErrorHandler(new Collect(messages));
                try { ok = _tiff.ReadScanline(line, y); }
                finally { Tiff.SetErrorHandler(previous); }
            }
            if (!ok)
                throw new TomalignInputException(Path, $"row {y} of page {z + 1} of the TIFF stack cannot be decoded ({string.Join("; ", messages.DefaultIfEmpty("damaged data"))})",
                    "copy the file again, or convert it with IMOD's tif2mrc");
            var dst = page.AsSpan(y * Nx, Nx);
            // libtiff hands the samples over in this machine's byte order, whatever the file's.
            switch (Mode)
            {
                case MrcMode.Int8 when Signed:
                    for (int x = 0; x < Nx; x++) dst[x] = (sbyte)line[x];
                    break;
                case MrcMode.Int8:
                    for (int x = 0; x < Nx; x++) dst[x] = line[x];
                    break;
                case MrcMode.Int16:
                    var s16 = MemoryMarshal.Cast<byte, short>(line.AsSpan(0, 2 * Nx));
                    for (int x = 0; x < Nx; x++) dst[x] = s16[x];
                    break;
                case MrcMode.UInt16:
                    var u16 = MemoryMarshal.Cast<byte, ushort>(line.AsSpan(0, 2 * Nx));
                    for (int x = 0; x < Nx; x++) dst[x] = u16[x];
                    break;
                default:
                    MemoryMarshal.Cast<byte, float>(line.AsSpan(0, 4 * Nx)).CopyTo(dst);
                    break;
            }
        }
        _page = page;
        _pageIndex = z;
        return page;
    }

    private static bool Supported(int bits, SampleFormat f) => (bits, f) switch
    {
        (8 or 16, SampleFormat.UINT or SampleFormat.INT) => true,
        (32, SampleFormat.IEEEFP) => true,
        _ => false,
    };

    private static string Describe(int bits, SampleFormat f) => f switch
    {
        SampleFormat.UINT => $"{bits}-bit unsigned integers",
        SampleFormat.INT => $"{bits}-bit signed integers",
        SampleFormat.IEEEFP => $"{bits}-bit floats",
        SampleFormat.COMPLEXINT or SampleFormat.COMPLEXIEEEFP => $"{bits}-bit complex numbers",
        _ => $"{bits}-bit samples of format {(int)f}",
    };

    private static int Int(Tiff t, TiffTag tag, int? fallback = null)
    {
        var v = t.GetField(tag);
        if (v is { Length: > 0 }) return v[0].ToInt();
        if (fallback is { } f) return f;
        v = t.GetFieldDefaulted(tag);
        return v is { Length: > 0 } ? v[0].ToInt() : 0;
    }

    /// <summary>libtiff's error and warning handler is global: it is swapped under this lock while a call that may report runs.</summary>
    private static readonly object HandlerLock = new();

    /// <summary>Collects libtiff's errors (and keeps its warnings off the console).</summary>
    private sealed class Collect(List<string> messages) : TiffErrorHandler
    {
        public override void ErrorHandler(Tiff tif, string method, string format, params object[] args) => messages.Add(Format(format, args));
        public override void ErrorHandlerExt(Tiff tif, object clientData, string method, string format, params object[] args) => messages.Add(Format(format, args));
        public override void WarningHandler(Tiff tif, string method, string format, params object[] args) { }
        public override void WarningHandlerExt(Tiff tif, object clientData, string method, string format, params object[] args) { }
        private static string Format(string format, object[] args)
        {
            try { return string.Format(System.Globalization.CultureInfo.InvariantCulture, format, args); }
            catch (FormatException) { return format; }
        }
    }

    public void Dispose() => _tiff.Dispose();
}
