using System.Buffers.Binary;
using System.Globalization;
using System.Text;
using Tomalign.Core.Solve;

namespace Tomalign.Core.Formats;

/// <summary>A contour of an IMOD model: points (x, y, z) and its flags; for a fiducial model one landmark, z = view.</summary>
public sealed class ImodContour
{
    public List<(float X, float Y, float Z)> Points { get; } = [];
    public uint Flags { get; set; }
    public int Time { get; set; }
    public int Surface { get; set; }
}

/// <summary>An IMOD object: its display settings (kept for a faithful copy) and contours.</summary>
public sealed class ImodObject
{
    public string Name { get; set; } = "";
    /// <summary>Object flags; <see cref="OpenContours"/> for fiducial models.</summary>
    public uint Flags { get; set; } = OpenContours;
    public int Axis { get; set; }
    public int DrawMode { get; set; } = 1;
    public float Red { get; set; } = 0;
    public float Green { get; set; } = 1;
    public float Blue { get; set; } = 0;
    public int PointDrawSize { get; set; }
    public byte Symbol { get; set; } = 1; // circle
    public byte SymbolSize { get; set; } = 3;
    public byte LineWidth2 { get; set; } = 1;
    public byte LineWidth { get; set; } = 1;
    public byte LineStyle { get; set; }
    public byte SymbolFlags { get; set; }
    public byte SymbolPad { get; set; }
    public byte Transparency { get; set; }
    public int SurfaceCount { get; set; }
    public List<ImodContour> Contours { get; } = [];

    public const uint OpenContours = 1u << 3;
}

/// <summary>
/// IMOD binary model (.mod/.fid), big-endian, as IMOD's binspec describes it: "IMOD" "V1.2", the
/// 232-byte model header, then per object "OBJT" + 176 bytes, each contour "CONT" + psize, flags,
/// time, surf + psize·3 floats, optional "MESH" chunks (skipped), other chunks (id + size + data,
/// skipped by their size), and "IEOF". Meshes and the optional chunks are not kept; everything
/// else is, so a model written here reads back identically.
/// <para>Also the text form of model2point: <c>object contour x y z</c> (1-based numbers), one point a line.</para>
/// </summary>
public sealed class ImodModel
{
    public string Name { get; set; } = "";
    public int XMax { get; set; }
    public int YMax { get; set; }
    public int ZMax { get; set; }
    public uint Flags { get; set; }
    public float XOffset { get; set; }
    public float YOffset { get; set; }
    public float ZOffset { get; set; }
    public float XScale { get; set; } = 1;
    public float YScale { get; set; } = 1;
    public float ZScale { get; set; } = 1;
    public float PixelSize { get; set; } = 1;
    public int Units { get; set; }
    public List<ImodObject> Objects { get; } = [];

    /// <summary>Chunk ids met and skipped while reading (e.g. "MESH", "MINX", "VIEW").</summary>
    public List<string> SkippedChunks { get; } = [];

    private const int ModelHeaderSize = 232, ObjectSize = 176;

    // ---------------------------------------------------------------- landmarks

    /// <summary>
    /// A fiducial model: one object, one contour per landmark (in id order), points (x, y, view) sorted by view.
    /// </summary>
    public static ImodModel FromObservations(IEnumerable<LandmarkObservation> observations, int width, int height, int views, float pixelSize = 1,
        Func<int, int>? surfaceOf = null)
    {
        var model = new ImodModel { XMax = width, YMax = height, ZMax = views, PixelSize = pixelSize, Name = "Tomalign fiducials" };
        var obj = new ImodObject { Name = "fiducials" };
        foreach (var g in observations.GroupBy(o => o.Landmark).OrderBy(g => g.Key))
        {
            var c = new ImodContour { Surface = surfaceOf?.Invoke(g.Key) ?? 0 };
            foreach (var o in g.OrderBy(o => o.View)) c.Points.Add(((float)o.X, (float)o.Y, o.View));
            obj.Contours.Add(c);
        }
        model.Objects.Add(obj);
        return model;
    }

    /// <summary>
    /// Every point of every contour as an observation: landmark = running contour number over all
    /// objects (0-based; empty contours keep their number), view = z rounded to the nearest integer.
    /// <see cref="LandmarkKey"/> gives the 1-based object and contour of a landmark.
    /// </summary>
    public List<LandmarkObservation> ToObservations()
    {
        var list = new List<LandmarkObservation>();
        int id = 0;
        foreach (var obj in Objects)
            foreach (var c in obj.Contours)
            {
                foreach (var (x, y, z) in c.Points) list.Add(new LandmarkObservation(id, (int)Math.Round(z), x, y));
                id++;
            }
        return list;
    }

    /// <summary>The 1-based (object, contour) of the landmark numbered by <see cref="ToObservations"/>.</summary>
    public (int Object, int Contour) LandmarkKey(int landmark)
    {
        int id = 0;
        for (int o = 0; o < Objects.Count; o++)
        {
            if (landmark < id + Objects[o].Contours.Count) return (o + 1, landmark - id + 1);
            id += Objects[o].Contours.Count;
        }
        throw new ArgumentOutOfRangeException(nameof(landmark));
    }

    // ---------------------------------------------------------------- binary

    public static ImodModel Read(string path)
    {
        byte[] data;
        try { data = File.ReadAllBytes(path); }
        catch (IOException e) { throw new TomalignInputException(path, $"cannot read the model ({e.Message})", "check the path"); }
        return Read(data, path);
    }

    public static ImodModel Read(byte[] data, string? file = null)
    {
        var r = new Reader(data, file);
        if (data.Length < 8 || Encoding.ASCII.GetString(data, 0, 4) != "IMOD")
            throw new TomalignInputException(file, "not an IMOD binary model (it does not start with \"IMOD\")", "give a .fid or .mod model written by IMOD or Tomalign, or the text form from model2point");
        r.Skip(8); // "IMOD" + version, e.g. "V1.2"
        var m = new ImodModel
        {
            Name = r.Text(128),
        };
        m.XMax = r.Int(); m.YMax = r.Int(); m.ZMax = r.Int();
        int objsize = r.Int();
        m.Flags = r.UInt();
        r.Skip(16); // drawmode, mousemode, blacklevel, whitelevel
        m.XOffset = r.Float(); m.YOffset = r.Float(); m.ZOffset = r.Float();
        m.XScale = r.Float(); m.YScale = r.Float(); m.ZScale = r.Float();
        r.Skip(12 + 8); // current object, contour, point; res, thresh
        m.PixelSize = r.Float();
        m.Units = r.Int();
        r.Skip(4 + 12); // csum, alpha, beta, gamma
        if (objsize < 0) throw new TomalignInputException(file, $"the model header says {objsize} objects", "the file is damaged; export it again");

        ImodObject? current = null;
        while (true)
        {
            if (r.Remaining == 0)
                throw new TomalignInputException(file, "the model ends without its end marker (IEOF)", "the file is truncated; copy or export it again");
            string id = r.Id();
            switch (id)
            {
                case "IEOF":
                    goto done;
                case "OBJT":
                    current = ReadObject(r);
                    m.Objects.Add(current);
                    break;
                case "CONT":
                    {
                        if (current is null) throw new TomalignInputException(file, "a contour comes before any object", "the file is damaged; export it again");
                        int psize = r.Int();
                        if (psize < 0 || (long)psize * 12 > r.Remaining) throw new TomalignInputException(file, $"a contour claims {psize} points, beyond the end of the file", "the file is truncated or damaged; export it again");
                        var c = new ImodContour { Flags = r.UInt(), Time = r.Int(), Surface = r.Int() };
                        for (int p = 0; p < psize; p++) c.Points.Add((r.Float(), r.Float(), r.Float()));
                        current.Contours.Add(c);
                        break;
                    }
                case "MESH":
                    {
                        int vsize = r.Int(), lsize = r.Int();
                        r.Skip(4 + 2 + 2);
                        if (vsize < 0 || lsize < 0) throw new TomalignInputException(file, "a mesh has a negative size", "the file is damaged; export it again");
                        r.Skip(12L * vsize + 4L * lsize);
                        m.SkippedChunks.Add(id);
                        break;
                    }
                default:
                    {
                        if (!id.All(ch => ch is >= ' ' and <= '~'))
                            throw new TomalignInputException(file, $"unrecognised data at byte {r.Position - 4}", "the file is damaged; export it again");
                        int size = r.Int();
                        if (size < 0) throw new TomalignInputException(file, $"chunk {id} has a negative size", "the file is damaged; export it again");
                        r.Skip(size);
                        m.SkippedChunks.Add(id);
                        break;
                    }
            }
        }
    done:
        return m;
    }

    private static ImodObject ReadObject(Reader r)
    {
        var o = new ImodObject { Name = r.Text(64) };
        r.Skip(64); // extra
        r.Int(); // contsize: the CONT chunks that follow are what counts
        o.Flags = r.UInt(); o.Axis = r.Int(); o.DrawMode = r.Int();
        o.Red = r.Float(); o.Green = r.Float(); o.Blue = r.Float();
        o.PointDrawSize = r.Int();
        o.Symbol = r.Byte(); o.SymbolSize = r.Byte(); o.LineWidth2 = r.Byte(); o.LineWidth = r.Byte();
        o.LineStyle = r.Byte(); o.SymbolFlags = r.Byte(); o.SymbolPad = r.Byte(); o.Transparency = r.Byte();
        r.Int(); // meshsize: meshes are skipped
        o.SurfaceCount = r.Int();
        return o;
    }

    /// <summary>Writes the model, whole or not at all (temporary name, then rename).</summary>
    public void Write(string path)
    {
        string full = Path.GetFullPath(path);
        string tmp = Path.Combine(Path.GetDirectoryName(full) ?? ".", $".{Path.GetFileName(full)}.tmp-{Guid.NewGuid():N}");
        try
        {
            File.WriteAllBytes(tmp, ToBytes());
            File.Move(tmp, full, overwrite: true);
        }
        catch
        {
            try { File.Delete(tmp); } catch (IOException) { }
            throw;
        }
    }

    public byte[] ToBytes()
    {
        var w = new Writer();
        w.Ascii("IMOD"); w.Ascii("V1.2");
        w.Text(Name, 128);
        w.Int(XMax); w.Int(YMax); w.Int(ZMax);
        w.Int(Objects.Count);
        w.UInt(Flags);
        w.Int(1); w.Int(1); w.Int(0); w.Int(255); // drawmode, mousemode, blacklevel, whitelevel
        w.Float(XOffset); w.Float(YOffset); w.Float(ZOffset);
        w.Float(XScale); w.Float(YScale); w.Float(ZScale);
        w.Int(0); w.Int(-1); w.Int(-1); // current object, contour, point
        w.Int(3); w.Int(128); // res, thresh
        w.Float(PixelSize); w.Int(Units);
        w.Int(0); // csum
        w.Float(0); w.Float(0); w.Float(0);
        foreach (var o in Objects)
        {
            w.Ascii("OBJT");
            w.Text(o.Name, 64);
            for (int k = 0; k < 16; k++) w.UInt(0);
            w.Int(o.Contours.Count);
            w.UInt(o.Flags); w.Int(o.Axis); w.Int(o.DrawMode);
            w.Float(o.Red); w.Float(o.Green); w.Float(o.Blue);
            w.Int(o.PointDrawSize);
            w.Byte(o.Symbol); w.Byte(o.SymbolSize); w.Byte(o.LineWidth2); w.Byte(o.LineWidth);
            w.Byte(o.LineStyle); w.Byte(o.SymbolFlags); w.Byte(o.SymbolPad); w.Byte(o.Transparency);
            w.Int(0); // meshsize
            w.Int(o.SurfaceCount);
            foreach (var c in o.Contours)
            {
                w.Ascii("CONT");
                w.Int(c.Points.Count); w.UInt(c.Flags); w.Int(c.Time); w.Int(c.Surface);
                foreach (var (x, y, z) in c.Points) { w.Float(x); w.Float(y); w.Float(z); }
            }
        }
        w.Ascii("IEOF");
        return w.ToArray();
    }

    // ---------------------------------------------------------------- model2point text

    /// <summary>
    /// Reads model2point's text: <c>object contour x y z</c> a line (1-based numbers); also
    /// <c>contour x y z</c> (one object). Blank lines and lines starting with # are ignored.
    /// </summary>
    public static ImodModel ReadPointText(string path, int width = 0, int height = 0)
    {
        string[] lines;
        try { lines = File.ReadAllLines(path); }
        catch (IOException e) { throw new TomalignInputException(path, $"cannot read the point file ({e.Message})", "check the path"); }
        var model = new ImodModel { XMax = width, YMax = height };
        var byKey = new SortedDictionary<(int, int), ImodContour>();
        int maxZ = 0;
        for (int n = 0; n < lines.Length; n++)
        {
            string line = lines[n].Trim();
            if (line.Length == 0 || line[0] == '#') continue;
            var t = line.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
            if (t.Length is not (4 or 5))
                throw new TomalignInputException(path, $"line {n + 1} has {t.Length} columns; expected \"object contour x y z\" or \"contour x y z\"", "write the points with model2point -object (or -contour)");
            var v = new double[t.Length];
            for (int k = 0; k < t.Length; k++)
                if (!double.TryParse(t[k], NumberStyles.Float, CultureInfo.InvariantCulture, out v[k]) || !double.IsFinite(v[k]))
                    throw new TomalignInputException(path, $"line {n + 1}: \"{t[k]}\" is not a number", "fix the line");
            int obj = t.Length == 5 ? (int)v[0] : 1, cont = (int)v[t.Length - 4];
            if (obj < 1 || cont < 1) throw new TomalignInputException(path, $"line {n + 1}: object and contour numbers start at 1", "fix the line");
            if (!byKey.TryGetValue((obj, cont), out var c)) byKey[(obj, cont)] = c = new ImodContour();
            double z = v[^1];
            c.Points.Add(((float)v[^3], (float)v[^2], (float)z));
            maxZ = Math.Max(maxZ, (int)Math.Round(z) + 1);
        }
        int objects = byKey.Count == 0 ? 0 : byKey.Keys.Max(k => k.Item1);
        for (int o = 1; o <= objects; o++)
        {
            var obj = new ImodObject { Name = $"object {o}" };
            var keys = byKey.Keys.Where(k => k.Item1 == o).ToList();
            int contours = keys.Count == 0 ? 0 : keys.Max(k => k.Item2);
            for (int c = 1; c <= contours; c++) obj.Contours.Add(byKey.TryGetValue((o, c), out var cc) ? cc : new ImodContour());
            model.Objects.Add(obj);
        }
        model.ZMax = maxZ;
        return model;
    }

    /// <summary>The text form of model2point -object: <c>object contour x y z</c>, 1-based numbers.</summary>
    public IEnumerable<string> ToPointText()
    {
        for (int o = 0; o < Objects.Count; o++)
            for (int c = 0; c < Objects[o].Contours.Count; c++)
                foreach (var (x, y, z) in Objects[o].Contours[c].Points)
                    yield return string.Create(CultureInfo.InvariantCulture, $"{o + 1,6} {c + 1,6} {x,12:F4} {y,12:F4} {z,10:F4}");
    }

    // ---------------------------------------------------------------- big-endian helpers

    private sealed class Reader(byte[] data, string? file)
    {
        public long Position { get; private set; }
        public long Remaining => data.Length - Position;

        private ReadOnlySpan<byte> Take(long n)
        {
            if (n > Remaining) throw new TomalignInputException(file, $"the model ends early (byte {data.Length}, needed {Position + n})", "the file is truncated; copy or export it again");
            var s = data.AsSpan((int)Position, (int)n);
            Position += n;
            return s;
        }

        public void Skip(long n) => Take(n);
        public int Int() => BinaryPrimitives.ReadInt32BigEndian(Take(4));
        public uint UInt() => BinaryPrimitives.ReadUInt32BigEndian(Take(4));
        public float Float() => BinaryPrimitives.ReadSingleBigEndian(Take(4));
        public byte Byte() => Take(1)[0];
        public string Id() => Encoding.ASCII.GetString(Take(4));
        public string Text(int n)
        {
            var s = Take(n);
            int end = s.IndexOf((byte)0);
            return Encoding.ASCII.GetString(end < 0 ? s : s[..end]);
        }
    }

    private sealed class Writer
    {
        private readonly MemoryStream _s = new();
        private readonly byte[] _b = new byte[4];
        public void Int(int v) { BinaryPrimitives.WriteInt32BigEndian(_b, v); _s.Write(_b); }
        public void UInt(uint v) { BinaryPrimitives.WriteUInt32BigEndian(_b, v); _s.Write(_b); }
        public void Float(float v) { BinaryPrimitives.WriteSingleBigEndian(_b, v); _s.Write(_b); }
        public void Byte(byte v) => _s.WriteByte(v);
        public void Ascii(string s) => _s.Write(Encoding.ASCII.GetBytes(s));
        public void Text(string s, int n)
        {
            var bytes = new byte[n];
            var src = Encoding.ASCII.GetBytes(s);
            Array.Copy(src, bytes, Math.Min(src.Length, n - 1));
            _s.Write(bytes);
        }
        public byte[] ToArray() => _s.ToArray();
    }
}
