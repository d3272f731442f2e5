"""Aspects of a review with their polarity per clause, columnar in polars (no Python loop over rows).

Pipeline (:func:`aspect_clauses`, then :func:`text_signals`):

1. normalise the text (:func:`jd_assets.insights.tags.normalised_text`);
2. split it into clauses: at line breaks, Chinese/ASCII sentence punctuation, whitespace, and before the
   contrast words of CONTRAST (但是/不过/就是/可是/只是 …), which start a new clause;
3. split each clause again before every aspect word (with the negators and degree words in front of it),
   so "质量好价格贵" gives "质量好" and "价格贵";
4. per piece: which aspects its words name (ASPECTS; one regex per aspect, minus its EXCLUDE words) and
   its polarity: every opinion hit (OPINION, one leftmost-first regex) is +1 or -1, flipped by a negator in
   front of it ("不太好用" -1, "一点也不贵" +1), degree words between the two are skipped ("比较贵" -1);
   a piece naming an aspect but holding no opinion takes the opinion of the next piece of its clause, then
   of the previous one ("包装和物流都很好");
5. aggregate per comment: a list of ``{aspect, polarity, clause}``.

Lexicons are a few dozen regexes; loops over them build expressions, never loops over rows.
"""

from __future__ import annotations

from typing import NamedTuple

import polars as pl

from jd_assets.insights.tags import normalised_text, repurchase, tags, template_key

# ---------------------------------------------------------------------------------------------- aspects


class Aspect(NamedTuple):
    id: str
    zh: str
    nouns: str  # regex: words naming the aspect; a clause is cut before each ("质量好价格贵")
    words: str = ""  # regex: more words naming or implying it (好吃: taste) that do not cut the clause
    exclude: str | None = None  # regex: a piece holding one of these does not name the aspect


#: The seller's listing (卖家描述, 商家图片): the words name the shop but judge the listing, so they are one
#: unit for the clause cut (no cut before its 图片) and never name service.
_LISTING = r"(?:卖家|商家|店家|店铺|掌柜)的?(?:描述|宣传|介绍|详情|图片|主图|页面|说明)"
_D = "(?:很|非常|特别|超级|超|挺|蛮|比较|有点|有些|太|也|都|又|还|真的|真|好|更|偏|略|稍微)*"

#: The aspect set (stable English ids; the Chinese display name second). Order is the output order of ids.
ASPECTS: tuple[Aspect, ...] = (
    Aspect(
        "logistics",
        "物流配送",
        r"快递盒|物流|快递|发货|送货|配送|送达|到货|派送|派件|签收|驿站|运送|运输|小哥|骑手|送餐|送错|冷链|"
        r"隔天达|次日达|当日达|在路上|"
        r"(?:当天|次日|隔天|第二天|一天|两天|三天|四天|五天|几天|半天|[0-9]+天|一周|一个星期|小时|"
        r"下午|上午|早上|晚上)(?:就|才)?(?:到了|送到|收到|到货|送达)|"
        r"(?:就|才|还没|没|未|根本没)(?:收到|到货|送到|送达)|才到",
        r"送得|送到|送来|送上门",
        r"快递盒",
    ),
    Aspect(
        "packaging",
        "包装",
        r"包装|包裹|盒子|外盒|礼盒|罐子|纸箱|快递盒|气泡膜|泡沫|袋子|封口|瓶盖|冰袋|餐盒",
        r"密封|严实|压扁|压坏|压碎|压凹|破损|漏液|洒了|漏了|碎了|完好|磕碰|拆过|被拆|湿透",
    ),
    Aspect(
        "price",
        "价格/性价比",
        r"价格|价钱|价位|售价|性价比|赠品|小样|活动力度|活动价|优惠|折扣|包邮",
        r"便宜|贵|划算|实惠|物美价廉|物超所值|超值|很值|值了|不值|太值|真值|^值$|降价|保价|涨价|打折|有券|"
        r"送了|还送|赠送|省钱|亏|一分钱一分货",
        r"贵州|贵妇|宝贵|高贵|送了一个?小时",
    ),
    Aspect(
        "quality",
        "质量/做工",
        r"质量|品质|做工|材质|材料|用料|面料|料子|工艺|涂层|个头",
        r"结实|耐用|厚实|精细|粗糙|瑕疵|划痕|毛刺|线头|开线|开胶|起球|掉色|褪色|跑毛|裂痕|裂了|裂缝|坏了|"
        r"坏的|烧了|烧坏|漏水|断了|松动|有点松|凹痕|二手|翻新|结块|溶解|冲泡|好冲|吃出|有头发|异物|没反应|"
        r"不加热|连击|没声音|饱满|碎末|物美价廉|(?:有点|有些|太|很|偏|比较)薄",
        r"电池|续航|充电",
    ),
    Aspect(
        "authenticity",
        "正品",
        r"正品|真品|正宗|假货|高仿|仿品|山寨|防伪|溯源|翻新机",
        r"假的|是假|验过|专柜验",
    ),
    Aspect(
        "service",
        "客服/售后",
        r"客服|售后|商家|卖家|店家|掌柜|店铺|退款|退换|换货|保价|安装|补发|上门取件",
        r"发错|退货(?:很|也|非常|挺)?(?:方便|麻烦|顺利|快|慢|及时)|"
        r"态度|服务|师傅|处理|回复|回消息|理人|没人理|不理|没人接",
        # a courier's attitude is logistics, not the shop's service; the seller's description (JD's 描述相符
        # rating: does the item match the listing) judges the listing, not the shop's service
        rf"物流|快递|送货|配送|派送|派件|小哥|骑手|快递员|送餐|{_LISTING}",
    ),
    Aspect(
        "appearance",
        "外观",
        r"外观|外形|颜值|颜色|款式|样式|版型|造型|设计|灯光|图片|质感",
        r"色差|好看|漂亮|难看|丑|帅|很仙|超美|很美|好美|太美|美观|显瘦|百搭|酷炫|臃肿|时尚",
        r"包装|盒子|礼盒",
    ),
    Aspect(
        "size_fit",
        "尺码",
        r"尺码|码数|鞋码|腰围|长度|领口|尺寸",
        r"一码|正码|偏大|偏小|合身|合脚|大小|(?:有点|有些|太|偏|比较)(?:大|小|紧)|太大了|太小了",
        r"噪音|噪声|声音|个头|小贵|差距|色差|音量",
    ),
    Aspect(
        "taste_smell",
        "味道/气味",
        r"味道|口感|口味|气味|香味|香气|奶香|奶味|焦味|胶味|怪味|异味|塑料味|甲醛",
        r"味|香|好吃|难吃|好喝|难喝|臭|腥|刺鼻|甜|咸|酸|苦|辣|(?:^|[^油黏粘细])腻|嚼劲|脆|酥|爱吃|爱喝|喜欢吃|喜欢喝|"
        r"好闻|难闻",
        r"手酸|腰酸|酸痛|香港|黏腻|粘腻|细腻",
    ),
    Aspect(
        "efficacy",
        "效果/功效",
        r"吸收|保湿|补水|滋润|美白|去屑|控油|止痒|祛痘|抗皱|紧致|提拉|过敏|皮肤|毛孔|吸力|雾量|风力|制冷|"
        r"制热|保温|降噪|洗完|用完|烧水",
        r"效果|功效|作用|变白|淡斑|祛斑|头屑|痒|闭口|爆痘|闷痘|长痘|痘|刺痛|泛红|红肿|烂脸|起皮|干燥|拔干|"
        r"黏腻|粘腻|黏|清爽|卡粉|搓泥|服帖|水水|脸|上火|便秘|便便|拉肚子|风很大|蓬松|暖和|保暖|凉快|"
        r"洗得|刷得|刮得|吹得|打得|费水|省水",
        r"拍照效果|屏幕效果|显示效果|静音效果|虚化效果",
    ),
    Aspect(
        "battery",
        "电池/续航",
        r"电池|续航|充电|电量|待机",
        r"耗电|掉电|充满|没电|一充|充一次|充不进",
        r"充电口|充电器|充电线|充电头",
    ),
    Aspect(
        "screen",
        "屏幕",
        r"屏幕|分辨率|刷新率|亮度|色彩|画面|画质",
        r"屏|护眼|漏光|绿线",
    ),
    Aspect(
        "performance",
        "运行/性能",
        r"运行|系统|信号|网速|游戏|连接|蓝牙|散热|开机",
        r"流畅|卡顿|卡死|很卡|有点卡|太卡|不卡|延迟|灵敏|发热|发烫|烫手|死机|智能|穿墙|断连",
        r"卡粉|默认",
    ),
    Aspect(
        "camera",
        "拍照",
        r"拍照|拍摄|拍人像|摄像|像素|镜头|夜景|虚化|相机|照片|拍视频|录像",
        r"拍得",
    ),
    Aspect(
        "sound",
        "音质",
        r"音质|音效|音响|扬声器|外放|喇叭|低音|高音|通话|听筒|立体声",
        r"声音(?:很|非常|特别|比较|也)?(?:清楚|清晰|好听|洪亮|立体)",
        r"静音",
    ),
    Aspect(
        "noise",
        "噪音",
        r"噪音|噪声|声音|静音",
        r"安静|吵|一直响|响声|嗡嗡|异响|很响|震",
        r"外放|清楚|清晰|好听|洪亮|立体|没声音|震撼|缓震|减震|防震",
    ),
    Aspect(
        "freshness",
        "新鲜度/日期",
        r"日期|保质期",
        r"新鲜|过期|临期|发霉|变质|哈喇|受潮|烂的|烂了|活的",
        r"激活日期",
    ),
    Aspect(
        "comfort",
        "舒适/手感",
        r"脚感|手感|穿着|上脚|舒适度",
        r"舒服|舒适|透气|闷脚|磨脚|不闷|柔软|软软|回弹|缓震|很轻|轻便|轻盈|有点重|很重|太重|"
        r"(?:有点|太|很|偏|比较)硬|脚疼|脚累|不累|耳朵疼|戴久了|手酸",
        r"闷痘|帅|好看|漂亮|显瘦|味|过敏|皮肤|紧|偏大|偏小",
    ),
    Aspect(
        "portion",
        "分量",
        r"分量|份量",
        rf"量{_D}足|量{_D}少|量大|吃不饱|吃不完|缺斤少两",
    ),
)
#: Greasiness is a texture: of a cream, a shampoo or hair (efficacy) unless the review is about something
#: eaten, then of the food (taste_smell). Without product context the review's own words decide: a greasy
#: word names taste_smell when the review holds a FOOD word anywhere, else efficacy ("吸收很快,不油腻" is
#: skincare, "烤鸭皮很脆,但是有点油腻" is food). 味道/香 are not food words: creams smell too.
GREASY = "油腻|油油的"
FOOD = (
    "吃|喝|口感|口味|嚼|菜|肉|汤|饭|粥|面条|炸|烤|煎|炒|卤|零食|饼干|点心|蛋糕|糕点|坚果|薯片|外卖|餐|"
    "鸭|鸡|鱼|虾|排骨|酥脆"
)
#: Whose manner a bare 态度/服务 judges (no party named in its piece): the party named last, in the same
#: or the previous clause. A courier's manner is delivery experience (JD rates it under 物流服务), so
#: "京东小哥送货上门,服务态度非常好" is logistics; after the shop or with no party at all it is service.
COURIER = "物流|快递|送货|配送|派送|派件|小哥|骑手|快递员|送餐"
SHOP = "客服|售后|商家|卖家|店家|掌柜|店铺"
MANNER = "态度|服务"
ASPECT_IDS: tuple[str, ...] = tuple(a.id for a in ASPECTS)
#: id -> Chinese display name.
ASPECT_NAMES: dict[str, str] = {a.id: a.zh for a in ASPECTS}
POLARITIES = ("positive", "negative", "neutral")

# ---------------------------------------------------------------------------------------------- opinions

#: Negators: an opinion word after one of these (with degree words between) flips. Longest first.
NEGATORS = (
    "没有想象中那么|没有想象的那么|没有宣传的那么|没有想象中|没有宣传的|一点儿也不|一点儿都不|一点也不|一点都不|"
    "根本不|根本没|完全不|完全没有|完全没|并不是|并不|并没有|并没|毫无|毫不|绝不|从不|从来不|从来没|"
    "不是很|不是太|不是特别|不是那么|没那么|没有那么|不太|不怎么|不大|不够|不算|不会|不再|不是|"
    "没什么|没有|没|不|无|未"
)
#: Degree and filler words allowed between a negator and its opinion word ("不是很好", "没有任何异味").
DEGREES = (
    "非常|特别|超级|十分|相当|极其|比较|有点儿|有点|有些|稍微|一点|任何|那么|这么|如此|很|太|超|挺|蛮|巨|贼|"
    "真|略|偏|更|都|也|还|又|会|再|是|算"
)

#: Aspect-bound opinions, tried before the single words (a phrase wins where it starts first or at the
#: same place): the polarity of 高/大/小/快 depends on what is high, loud, small or fast.
POSITIVE_PHRASES = (
    rf"性价比{_D}高|颜值{_D}高|品质{_D}高|(?:价格|价钱|价位){_D}(?:低|实惠|便宜|美丽)|"
    rf"(?:噪音|噪声|声音){_D}小|(?:吸力|风力|风|雾量|容量|屏幕|个头){_D}大|续航{_D}(?:长|久)|留香{_D}久|"
    r"不油腻|不黏腻|不粘腻|不油|甜而不腻|不腻|(?:还是|都是)热的|热乎|就凉了|淡淡的|没毛病|不影响|"
    r"没(?:有)?(?:任何)?问题|很值|值了|超值|再好不过|送货上门|送上门|颜色\S?正|(?:还|又|多)送了|有赠品|"
    rf"赠品{_D}多|小样{_D}多|"
    # cheaper than another shop is praise; another shop being cheaper (below) is a complaint
    r"比(?:别家|别人家|其他家|其他店|别的店|隔壁|外面|超市|实体店|专柜|官网)\S{0,3}(?:便宜|实惠|划算)|"
    r"(?:当天|次日|隔天|第二天|一天|半天|上午|下午|早上|晚上|今天|昨天|马上)就(?:到了|到|送到|收到|到货|送达)"
)
NEGATIVE_PHRASES = (
    rf"(?:价格|价钱|价位|售价){_D}高|偏高|性价比{_D}低|性价比不(?:太|是很|怎么)?高|"
    rf"(?:噪音|噪声|声音){_D}大|个头{_D}小|(?:色差|差距){_D}大|"
    rf"(?:掉电|耗电|没电){_D}快|快过期|就快|(?:续航|待机){_D}短|(?:屏幕|画面|亮度){_D}(?:暗|低)|"
    # a size judged big or small with a degree word is a misfit ("尺码比较小"; "尺码大小合适" has none)
    rf"(?:尺码|码数|鞋码|尺寸){_D}(?:比较|很|非常|特别)(?:大|小)|"
    r"(?:有点|有些|太|偏|过于|特别|超级)(?:大|小|紧|松|薄|短|长|窄|甜|咸|辣|酸|苦|淡|冲|浓|重|油|硬|干|黏|粘|透|暗|深|浅)|"
    r"(?:量|分量|份量)" + _D + r"少|太少|大了|小了|"
    r"(?:别家|别人家|其他家|其他店|别的店|隔壁|外面)\S{0,3}(?:便宜|实惠|划算)|"
    # size advice: the size runs off ("要买大一码", "建议拍小半码")
    r"(?:买|拍|选|换|要|建议)(?:大|小)(?:一|半)码|"
    r"油油的|(?:饭|菜|汤|餐)\S{0,3}凉了|"
    r"等了?(?:好久|很久|好几天)|好久才|要等好久|"
    r"没(?:感觉|看到|看出)?(?:有)?(?:什么|啥|任何)?(?:效果|作用|用处)|白花钱|"
    r"还没收到|没收到|未收到|还没到|没到货|不送上门|没送上门|不上门|放在\S{0,6}门口|扔在|"
    r"是不是正品|是不是真的|是不是假|是否正品|"
    r"没人理|没人接|不理人|不回复|不回消息|不处理|不承认|不给处理|不符合条件|"
    r"再也不|别买|不推荐|不值|不行|不怎么样|没拧紧|充不进电|不保温|不加热|没反应|没声音|死机|撑不住|撑不到|"
    r"一点\S{1,4}(?:都|也)没有|图片\S{0,3}(?:深|浅|暗|亮|差)"
)
#: Degree-free single opinion words. Words starting with a negator that are opinions in their own right
#: (不错, 没收到) are listed whole, so the negator rule does not split them.
POSITIVE_WORDS = (
    "不错|满意|喜欢|好评|五星|点赞|推荐|惊喜|惊艳|给力|优秀|完美|棒|赞|爱|舒服|舒适|漂亮|好看|美观|帅|仙|酷炫|"
    "时尚|大气|高级|上档次|有质感|精致|精细|精美|结实|耐用|厚实|快|迅速|神速|及时|准时|值|划算|实惠|便宜|"
    "物美价廉|物超所值|清晰|清楚|细腻|鲜艳|流畅|顺畅|稳定|灵敏|智能|新鲜|好吃|好喝|美味|香|好闻|正品|正宗|"
    "靠谱|放心|安心|信得过|有保障|没得说|严实|仔细|用心|完好|完整|无损|耐心|热情|周到|专业|贴心|负责|辛苦|"
    "规范|有问必答|清爽|滋润|保湿|柔软|透气|合身|合脚|合适|标准|正码|正好|刚好|满分|可爱|静音|安静|"
    "容易吸收|好吸收|易吸收|顺滑|有效|明显|神器|干净|整洁|齐全|好用|顺手|方便|轻便|轻盈|省电|持久|耐穿|百搭|"
    "显瘦|服帖|水水的|亮了|变白|蓬松|暖和|保暖|凉快|酥脆|脆|嚼劲|Q弹|饱满|好冲|浓|纯|足|够|强|响亮|震撼|"
    "一样|一模一样|一致|相符|正常|体面|有面子|过瘾|爽|厉害|牛|绝了|杠杠的|无敌|省心|舒心|很轻|甜|美|满足|理想|好|"
    "yyds|nice|good|great|perfect"
)
NEGATIVE_WORDS = (
    "差评|很差|太差|差|坏|烂|破损|破了|破洞|摔破|拆过|被拆|湿了|湿透|歪|烧了|烧坏|吓|咸|酸|漏液|漏水|漏|洒|碎|压扁|压坏|压碎|压凹|凹痕|变形|裂痕|裂|划痕|瑕疵|"
    "毛刺|线头|开线|开胶|起球|掉色|褪色|跑毛|缩水|粗糙|简陋|慢|迟|才到|在路上|送错|发错|少发|漏发|缺件|"
    "贵|昂贵|亏|坑|降价|涨价|假货|假的|假|高仿|仿品|山寨|翻新|二手|失望|后悔|垃圾|恶心|无语|生气|糟糕|"
    "郁闷|上当|骗|麻烦|难用|难吃|难喝|难闻|难看|丑|臭|腥|刺鼻|刺激|异味|怪味|胶味|焦味|甲醛|腻|黏|油腻|"
    "黏腻|粘腻|搓泥|卡粉|闷痘|爆痘|长痘|闭口|过敏|刺痛|痒|泛红|红肿|烂脸|干燥|拔干|起皮|干|便秘|上火|"
    "拉肚子|头屑|卡顿|卡死|卡|发热|发烫|烫手|烫|断|掉线|延迟|漏光|绿线|色差|两样|不符|偏黄|吵|响|震|"
    "推脱|敷衍|恶劣|摆设|吓人|稀|费水|费电|毛病|问题|严重|遗憾|可惜|怀疑|磨脚|闷脚|脚疼|耳朵疼|疼|疙瘩|手酸|累|"
    "硬|重|臃肿|勒|少|过期|临期|发霉|变质|哈喇|受潮|连击|吃不饱"
)
#: Emoji are a mood, not an opinion on the aspect next to them: buyers append them to the whole review
#: ("质量很好,就是价格比较贵😊🎉"). A piece's emoji count only when it holds no opinion word, so they
#: never outvote one ("价格比较贵😊" is negative) but still carry "包装👍".
POSITIVE_EMOJI = "👍|❤|😊|😄|💯|🌹|👌|😍|🥰"
NEGATIVE_EMOJI = "👎|😡|😤|💢|😠"
NEUTRAL_WORDS = "一般般|一般|还行|凑合|中规中矩|马马虎虎|还好|将就|普通|还可以|尚可|差不多|还没看出|还没用"
#: Consumed without an opinion so that their characters are not read as one (快递 is not 快, 好几天 not 好).
STOP_WORDS = (
    "快递员|快递盒|快递|外卖|好像|好几|好多|好些|好在|好处|不好意思|没用过|还没使用|还没开始|影响|重量|重度|"
    "干油皮|干皮|油皮|混油皮|卡通|美的|美赞臣|不过|不知道|不确定|不管|不然|不仅|不但|不只|没想到|"
    "不一会|是不是|能不能|会不会|可不可以|难道|难免|不少|无线|无限|不用|不得不|止痒|低音|高音|"
    "收到就|贵妇|宝贵|香港|酸痛|一点点|香味|香气|香精|缓震|减震|防震|酸奶|酸甜|系统默认|破壁机|噪音大小|音量大小"
)
#: Words after which a clause starts afresh ("质量很好,就是价格比较贵").
CONTRAST = "但是|不过|可是|只是|就是|然而|可惜|遗憾的是|美中不足的是|唯一的缺点是|唯一不足|但"
#: 就是 right after an aspect noun is a copula or an emphasis, not a contrast ("客服就是个摆设",
#: "质量真的就是好"): the clause is not cut there.
_COPULA = "(" + "|".join(a.nouns for a in ASPECTS) + ")((?:真的|简直|也|都|根本|完全)?)\x1f就是"
#: A wish holding a positive word is a complaint: "希望物流快一点".
WISH = "希望|要是能|能不能|可不可以|如果能|建议"

_OPINION = "|".join(
    [
        f"(?P<stop>{STOP_WORDS})",
        f"(?P<pp>{POSITIVE_PHRASES})",
        f"(?P<np>{NEGATIVE_PHRASES})",
        f"(?P<neu>{NEUTRAL_WORDS})",
        f"(?:{NEGATORS})(?:{DEGREES}){{0,3}}(?:{POSITIVE_WORDS}|{NEGATIVE_WORDS})",
        f"(?:{POSITIVE_WORDS})",
        f"(?:{NEGATIVE_WORDS})",
    ]
)
#: One leftmost-first regex over every opinion-bearing unit; each hit is classified by the _IS_* tests.
OPINION = _OPINION
_IS = {
    "stop": f"^(?:{STOP_WORDS})$",
    "neu": f"^(?:{NEUTRAL_WORDS})$",
    "pp": f"^(?:{POSITIVE_PHRASES})$",
    "np": f"^(?:{NEGATIVE_PHRASES})$",
    "pw": f"^(?:{POSITIVE_WORDS})$",
    "nw": f"^(?:{NEGATIVE_WORDS})$",
    "neg_pw": f"^(?:{NEGATORS})(?:{DEGREES}){{0,3}}(?:{POSITIVE_WORDS})$",
}
#: Where a clause splits (punctuation, whitespace, line breaks; the contrast words are marked before).
CLAUSE = r"[^\x1f\n\t ,，。.!?;；~～…|/\\()（）【】\[\]\"“”'‘’「」]+"
_ANY_ASPECT = "|".join([*(f"{a.nouns}|{a.words}" if a.words else a.nouns for a in ASPECTS), GREASY])
_BOUNDARY = f"(?:{NEGATORS})?(?:{DEGREES}){{0,2}}(?:{_LISTING}|" + "|".join(a.nouns for a in ASPECTS) + ")"

ASPECT_STRUCT = pl.Struct({"aspect": pl.String, "polarity": pl.String, "clause": pl.String})


def _hit_value(hit: pl.Expr) -> pl.Expr:
    """+1 / -1 / 0 for one opinion hit; null for a stop word (no opinion)."""
    return (
        pl.when(hit.str.contains(_IS["stop"]))
        .then(None)
        .when(hit.str.contains(_IS["neu"]))
        .then(0)
        .when(hit.str.contains(_IS["pp"]))
        .then(1)
        .when(hit.str.contains(_IS["np"]))
        .then(-1)
        .when(hit.str.contains(_IS["pw"]))
        .then(1)
        .when(hit.str.contains(_IS["nw"]))
        .then(-1)
        .when(hit.str.contains(_IS["neg_pw"]))
        .then(-1)
        .otherwise(1)  # a negated negative word: 一点也不贵, 没有异味
        .cast(pl.Int32)
    )


def aspect_clauses(frame: pl.DataFrame, text: str = "text", *, normalise: bool = True) -> pl.DataFrame:
    """One row per (comment, clause piece), in text order: ``comment_id, clause_id`` (a clause's number in
    the whole frame), ``clause, piece, aspects (list[str]),
    score (int: positive minus negative hits), opinions (hits), polarity`` (the piece's own, or filled from
    its clause for a piece that names an aspect but holds no opinion; null when the clause has none).

    ``frame`` needs ``comment_id`` and the text column; texts are normalised here unless ``normalise`` is
    False (the column already went through :func:`jd_assets.insights.tags.normalised_text`)."""
    clauses = (
        frame.lazy()
        .select(
            "comment_id",
            (normalised_text(pl.col(text)) if normalise else pl.col(text).fill_null("")).alias("clause"),
        )
        .select(
            "comment_id",
            pl.col("clause").str.contains(FOOD).alias("food"),
            pl.col("clause")
            .str.replace_all(f"({CONTRAST})", "\x1f${1}")
            .str.replace_all(_COPULA, "${1}${2}就是")
            .str.extract_all(CLAUSE),
        )
        .explode("clause")
        .filter(pl.col("clause").is_not_null())
        .with_row_index("clause_id")
        .with_columns(piece=pl.col("clause").str.replace_all(_BOUNDARY, "\x1e${0}").str.split("\x1e"))
        .explode("piece")
        .filter(pl.col("piece") != "")
        .with_row_index("piece_id")
    )
    party = (
        pl.when(pl.col("piece").str.contains(COURIER))
        .then(pl.lit(True))
        .when(pl.col("piece").str.contains(SHOP))
        .then(pl.lit(False))
    )
    courier_before = (
        pl.col("party").forward_fill().fill_null(False)
        & (pl.col("party_comment").forward_fill() == pl.col("comment_id"))
        & (pl.col("party_clause").forward_fill() >= pl.col("clause_id") - 1)
    )
    courier_manner = pl.col("party").is_null() & pl.col("piece").str.contains(MANNER) & courier_before
    greasy = pl.col("piece").str.contains(GREASY)
    # context decided outside the piece: greasiness by the review's food words, a bare manner by its party
    also = {
        "taste_smell": greasy & pl.col("food"),
        "efficacy": greasy & ~pl.col("food"),
        "logistics": pl.col("courier_manner"),
    }
    veto = {"service": pl.col("courier_manner")}
    flags = [
        pl.when(
            (
                pl.col("piece").str.contains(a.nouns + (f"|{a.words}" if a.words else ""))
                & (~pl.col("piece").str.contains(a.exclude) if a.exclude else pl.lit(True))
                & (~veto[a.id] if a.id in veto else pl.lit(True))
            )
            | also.get(a.id, pl.lit(False))
        ).then(pl.lit(a.id))
        for a in ASPECTS
    ]
    # concat_str + split is ~10x faster than concat_list over 19 when/then columns
    named = pl.concat_str(flags, separator=",", ignore_nulls=True)
    named = pl.when(named == "").then(pl.lit([], dtype=pl.List(pl.String))).otherwise(named.str.split(","))
    # the 19 aspect regexes run only on the pieces that hold some aspect word (one combined regex first)
    with_aspect = pl.col("piece").str.contains(_ANY_ASPECT)
    pieces = pl.concat(
        [
            # every piece naming a party names an aspect, so the forward fills see all parties
            clauses.filter(with_aspect)
            .with_columns(party=party)
            .with_columns(
                party_comment=pl.when(pl.col("party").is_not_null()).then(pl.col("comment_id")),
                party_clause=pl.when(pl.col("party").is_not_null()).then(pl.col("clause_id")),
            )
            .with_columns(courier_manner=courier_manner)
            .with_columns(aspects=named)
            .drop("party", "party_comment", "party_clause", "courier_manner"),
            clauses.filter(~with_aspect).with_columns(aspects=pl.lit([], dtype=pl.List(pl.String))),
        ]
    ).sort("piece_id")
    values = (
        pl.col("piece").str.replace_all(":", "").str.extract_all(OPINION).list.eval(_hit_value(pl.element()))
    )
    own = (
        pl.when(pl.col("opinions") == 0)
        .then(pl.lit(None, pl.String))
        .when(pl.col("score") > 0)
        .then(
            pl.when(pl.col("piece").str.contains(WISH)).then(pl.lit("negative")).otherwise(pl.lit("positive"))
        )
        .when(pl.col("score") < 0)
        .then(pl.lit("negative"))
        .otherwise(pl.lit("neutral"))
    )
    return (
        pieces.with_columns(
            values=values,
            pos_emoji=pl.col("piece").str.count_matches(POSITIVE_EMOJI).cast(pl.Int32),
            neg_emoji=pl.col("piece").str.count_matches(NEGATIVE_EMOJI).cast(pl.Int32),
        )
        .with_columns(
            score=pl.col("values").list.sum().fill_null(0).cast(pl.Int32),
            opinions=pl.col("values").list.drop_nulls().list.len().cast(pl.UInt32),
        )
        # emoji decide only a piece without opinion words
        .with_columns(
            score=pl.when(pl.col("opinions") > 0)
            .then(pl.col("score"))
            .otherwise(pl.col("pos_emoji") - pl.col("neg_emoji")),
            opinions=pl.col("opinions") + (pl.col("pos_emoji") + pl.col("neg_emoji")).cast(pl.UInt32),
        )
        .with_columns(own=own)
        # fill from the next (then the previous) piece of the same clause: rows are in text order, so a
        # global fill plus "did the value come from my clause" replaces a window over 1M small groups
        .with_columns(src=pl.when(pl.col("own").is_not_null()).then(pl.col("clause_id")))
        .with_columns(
            polarity=pl.coalesce(
                pl.col("own"),
                pl.when(pl.col("src").backward_fill() == pl.col("clause_id")).then(
                    pl.col("own").backward_fill()
                ),
                pl.when(pl.col("src").forward_fill() == pl.col("clause_id")).then(
                    pl.col("own").forward_fill()
                ),
            )
        )
        .drop("own", "src", "piece_id", "values", "pos_emoji", "neg_emoji", "food")
        .collect()
    )


def aspects(frame: pl.DataFrame, text: str = "text", *, normalise: bool = True) -> pl.DataFrame:
    """``comment_id, aspects, negative_aspects``: per comment a list of ``{aspect, polarity, clause}``
    (each aspect once per clause and polarity, in text order; an aspect without any opinion in its clause is
    neutral) and the number of negative entries; every comment of ``frame`` gets a row (empty list)."""
    found = (
        aspect_clauses(frame, text, normalise=normalise)
        .lazy()
        .select("comment_id", "clause_id", "clause", "aspects", "polarity")
        .explode("aspects")
        .filter(pl.col("aspects").is_not_null())
        # an aspect named in no clause with an opinion is neutral, unless an opinion on it exists elsewhere
        .filter(
            pl.col("polarity").is_not_null()
            | ~pl.col("polarity").is_not_null().any().over("comment_id", "aspects")
        )
        .with_columns(pl.col("polarity").fill_null("neutral"))
        .unique(["comment_id", "clause_id", "aspects", "polarity"], maintain_order=True)
        .group_by("comment_id", maintain_order=True)
        .agg(aspects=pl.struct(aspect="aspects", polarity="polarity", clause="clause"))
    )
    return (
        frame.lazy()
        .select("comment_id")
        .join(found, on="comment_id", how="left", maintain_order="left")
        .with_columns(pl.col("aspects").fill_null(pl.lit([], dtype=pl.List(ASPECT_STRUCT))))
        .with_columns(
            negative_aspects=pl.col("aspects")
            .list.eval(pl.element().struct.field("polarity") == "negative")
            .list.sum()
            .fill_null(0)
            .cast(pl.UInt32)
        )
        .collect()
    )


def text_signals(frame: pl.DataFrame, text: str = "text") -> pl.DataFrame:
    """Everything a review text says beyond its overall polarity, one row per ``comment_id`` of ``frame``:

    - ``aspects``: list of ``{aspect, polarity, clause}`` (aspect in ASPECT_IDS, polarity in POLARITIES);
    - ``negative_aspects``: how many of them are negative;
    - ``tags``: JD's structured lines as a list of ``{tag, value}``;
    - ``mentions_repurchase`` (bool) and ``repurchase_intent`` (positive / negative / null);
    - ``template_key``: the letters-only text for template grouping (null when too short); pass the whole
      table's keys to :func:`jd_assets.insights.tags.template_flags` for ``is_templated``.

    ``frame`` needs ``comment_id`` (unique) and ``text`` (clean.comments.text). Never raises on bad text.
    """
    frame = frame.select("comment_id", pl.col(text).cast(pl.String).alias("text"))
    norm = frame.select("comment_id", normalised_text(pl.col("text")).alias("text"))
    mentions, intent = repurchase(pl.col("text"))
    extra = norm.select(
        "comment_id",
        mentions.fill_null(False).alias("mentions_repurchase"),
        intent.alias("repurchase_intent"),
        template_key(pl.col("text")).alias("template_key"),
    )
    return (
        aspects(norm, normalise=False)
        .join(tags(norm), on="comment_id", how="left", maintain_order="left")
        .join(extra, on="comment_id", how="left", maintain_order="left")
        .select(
            "comment_id",
            "aspects",
            "negative_aspects",
            "tags",
            "mentions_repurchase",
            "repurchase_intent",
            "template_key",
        )
    )


def hidden_complaint(
    score: str = "score", text_sentiment: str = "text_sentiment", aspects: str = "aspects"
) -> pl.Expr:
    """Expression: a review rated 4-5 whose text is negative (``text_sentiment`` from the sentiment model:
    positive / neutral / negative) or which has a negative aspect. False when the score is missing."""
    negative_aspect = (
        pl.col(aspects).list.eval(pl.element().struct.field("polarity") == "negative").list.any()
    )
    return (
        (pl.col(score) >= 4)
        & ((pl.col(text_sentiment) == "negative").fill_null(False) | negative_aspect.fill_null(False))
    ).fill_null(False)


# ---------------------------------------------------------------------------------------------- evaluation


def evaluate(labels: pl.DataFrame) -> pl.DataFrame:
    """Per-aspect precision / recall / F1 of :func:`aspects` against gold labels.

    ``labels``: ``id``, ``text``, ``aspects`` (list of ``{aspect, polarity}``), as in
    jd_assets_tests/insights/data/aspect_labels.jsonl. Compared per review as sets: ``detection`` counts an
    aspect once per review; ``with_polarity`` counts (aspect, polarity) pairs. Returns ``task, aspect,
    gold, predicted, tp, precision, recall, f1`` with one ``ALL`` row (micro average) per task.
    """
    frame = labels.select(pl.col("id").cast(pl.String).alias("comment_id"), "text")
    predicted = aspects(frame).select(
        "comment_id",
        pl.col("aspects").list.eval(pl.element().struct.field("aspect")).alias("a"),
        pl.col("aspects")
        .list.eval(pl.element().struct.field("aspect") + "/" + pl.element().struct.field("polarity"))
        .alias("ap"),
    )
    gold = labels.select(
        pl.col("id").cast(pl.String).alias("comment_id"),
        pl.col("aspects").list.eval(pl.element().struct.field("aspect")).alias("a"),
        pl.col("aspects")
        .list.eval(pl.element().struct.field("aspect") + "/" + pl.element().struct.field("polarity"))
        .alias("ap"),
    )
    out = []
    for task, col in (("detection", "a"), ("with_polarity", "ap")):
        g = gold.select("comment_id", pl.col(col).list.unique()).explode(col).drop_nulls()
        p = predicted.select("comment_id", pl.col(col).list.unique()).explode(col).drop_nulls()
        g, p = g.with_columns(g=1), p.with_columns(p=1)
        both = g.join(p, on=["comment_id", col], how="full", coalesce=True).with_columns(
            aspect=pl.col(col).str.split("/").list.first()
        )
        per = both.group_by("aspect").agg(
            gold=pl.col("g").count(), predicted=pl.col("p").count(), tp=(pl.col("g") + pl.col("p") == 2).sum()
        )
        total = per.select(pl.lit("ALL").alias("aspect"), pl.col("gold", "predicted", "tp").sum())
        out.append(pl.concat([per.sort("aspect"), total]).with_columns(task=pl.lit(task)))
    res = pl.concat(out)
    p = pl.col("tp") / pl.col("predicted")
    r = pl.col("tp") / pl.col("gold")
    return res.select(
        "task",
        "aspect",
        "gold",
        "predicted",
        "tp",
        precision=p.fill_nan(None),
        recall=r.fill_nan(None),
        f1=(2 * p * r / (p + r)).fill_nan(None),
    )
